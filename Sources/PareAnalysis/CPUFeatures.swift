import Foundation

/// The vector instruction sets of this machine's CPU that decide how int8 runs, read from
/// `/proc/cpuinfo` (empty elsewhere).
public struct CPUFeatures: Sendable, Equatable {
    public var flags: Set<String>

    public init(flags: Set<String>) { self.flags = flags }

    /// This machine's features.
    public static func current() -> CPUFeatures {
        guard let info = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
              let line = info.split(separator: "\n").first(where: { $0.hasPrefix("flags") }),
              let colon = line.firstIndex(of: ":") else { return CPUFeatures(flags: []) }
        return CPUFeatures(flags: Set(line[line.index(after: colon)...].split(separator: " ").map(String.init)))
    }

    /// 8-bit dot products into 32 bits in one instruction (AVX-512 VNNI or AVX-VNNI): int8
    /// kernels cannot saturate, so 8-bit weights are safe.
    public var hasVNNI: Bool { flags.contains("avx512_vnni") || flags.contains("avx_vnni") }

    /// The widest x86 vector extension present, as benchmarks print it ("avx512f", "avx2", ...).
    public var isa: String {
        if flags.contains("avx512f") { return hasVNNI ? "avx512 + vnni" : "avx512" }
        if flags.contains("avx2") { return hasVNNI ? "avx2 + avx-vnni" : "avx2 (no vnni)" }
        if flags.contains("sse4_2") { return "sse4.2" }
        return flags.isEmpty ? "unknown" : "other"
    }

    /// The weight bits post-training quantisation should use here: 8 with VNNI, else 7
    /// (`vpmaddubsw`'s 16-bit pair sums saturate with 8-bit weights).
    public var int8WeightBits: Int { hasVNNI ? 8 : 7 }

    /// The fewest input channels a convolution should have to be quantised here: 4 without
    /// VNNI, where oneDNN 2.6's int8 kernel pads them to 4 and ran 1- and 3-channel first
    /// layers slower than its f32 one (smallcnn's conv1 at batch 16: 0.43 against 0.19 ms;
    /// resnet18's: 4.5 against 3.1 ms; `pare bench --profile`), else 1 (not measured there).
    public var int8MinimumInputChannels: Int { hasVNNI ? 1 : 4 }
}
