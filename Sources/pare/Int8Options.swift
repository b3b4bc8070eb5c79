import ArgumentParser
import PareAnalysis

/// The int8 options `pare quantize`, `pare compress` and `pare train --qat` share, each
/// defaulting to what suits this CPU when left out.
struct Int8Options: ParsableArguments {
    @Option(help: "Int8 weight bits, 8 or 7 (default: 8 with VNNI, else 7, whose sums cannot saturate AVX2's 16-bit intermediates).")
    var weightBits: Int?
    @Option(name: .customLong("int8-min-channels"),
            help: ArgumentHelp("Convolutions with fewer input channels (an image's first layer) stay f32 (default: 4 without VNNI, where oneDNN's int8 kernel runs them slower than f32; else 1). 1 quantises every convolution.",
                               valueName: "n"))
    var minimumInputChannels: Int?
    @Flag(help: "Round each convolution's result to 8 bits before its residual add and run the add on its own (onnxruntime's QLinearConv then QLinearAdd), instead of adding inside the convolution as oneDNN's sum post-op. The QDQ export then runs every convolution int8 in onnxruntime.")
    var separateResidualAdds = false

    /// `--weight-bits`, else this CPU's default.
    func resolvedWeightBits(_ features: CPUFeatures = .current()) -> Int { weightBits ?? features.int8WeightBits }

    /// `--int8-min-channels`, else this CPU's default.
    func resolvedMinimumInputChannels(_ features: CPUFeatures = .current()) -> Int {
        minimumInputChannels ?? features.int8MinimumInputChannels
    }

    func validate() throws {
        if let weightBits, weightBits != 7 && weightBits != 8 { throw ValidationError("--weight-bits must be 7 or 8") }
        if let minimumInputChannels, minimumInputChannels < 1 { throw ValidationError("--int8-min-channels must be at least 1") }
    }
}
