import CKernels

/// A 3x3, stride-1, single-group convolution computed with Winograd's F(4x4, 3x3)
/// algorithm (CKernels): 36 multiplications per 4x4 output tile and channel pair instead
/// of 144; on AVX2 it takes 40-60% of oneDNN's direct convolution's time. Activations
/// are in oneDNN's blocked layout `nChw{block}c` (block 8 or 16, channels zero-padded to a
/// multiple of it); weights and their gradient are plain `[out, in, 3, 3]`.
///
/// Results differ from a direct convolution by rounding only (relative error about 1e-6
/// to 1e-5 in fp32: the transforms multiply by at most 8 and divide by 24).
public struct WinogradConvolution {
    let shape: pare_winograd_shape

    /// Whether a convolution with attributes `a` from `input` to `output` (`[N, C, H, W]`)
    /// can run here: 3x3 kernel, stride and dilation 1, one group, padding 0...2, and at
    /// least 8 input and output channels (with fewer, the matrix products are too thin to win).
    public static func supports(_ a: Conv2dAttributes, input: [Int], output: [Int]) -> Bool {
        let p = a.padding
        return a.kernelSize == [3, 3] && a.stride == [1, 1] && a.dilation == [1, 1] && a.groups == 1
            && [p.top, p.left, p.bottom, p.right].allSatisfy { (0...2).contains($0) }
            && input.count == 4 && output.count == 4 && input[1] >= 8 && output[1] >= 8
            && output[2] == input[2] + p.top + p.bottom - 2 && output[3] == input[3] + p.left + p.right - 2
    }

    /// The passes worth running on Winograd, for a convolution it ``supports(_:input:output:)``:
    /// those whose tiles waste less than 30% of their area. Each pass fills a map with 4x4
    /// tiles (the forward and weights' gradient the output, the input's gradient the input);
    /// a 13x13 map needs 16x16, 66% useful, and oneDNN's direct kernel is faster there
    /// (`pare bench-kernels --conv 32,64,13`: backward data 4.0 ms vs 3.4 ms direct), while
    /// 14x14 and 7x7 maps (77% useful) still run 1.4-2.2x faster on Winograd.
    static func passes(input: [Int], output: [Int]) -> Set<Pass> {
        func efficient(_ map: [Int]) -> Bool {
            let tiled = (map[2] + 3) / 4 * 4 * ((map[3] + 3) / 4 * 4)
            return Double(map[2] * map[3]) >= 0.7 * Double(tiled)
        }
        var passes: Set<Pass> = []
        if efficient(output) { passes.formUnion([.forward, .backwardWeights]) }
        if efficient(input) { passes.insert(.backwardData) }
        return passes
    }

    /// `input` and `output` are `[N, C, H, W]`; `block` is the layout's channel block (8 or 16).
    /// `chunkImages` caps the images transformed at a time (nil: as many as fit the cache);
    /// `portable` runs the baseline x86-64 transforms even where AVX2 is available (tests).
    init(_ a: Conv2dAttributes, input: [Int], output: [Int], block: Int, chunkImages: Int? = nil,
         portable: Bool = false) {
        precondition(Self.supports(a, input: input, output: output) && (block == 8 || block == 16),
                     "WinogradConvolution cannot run \(a) from \(input) to \(output) in blocks of \(block)")
        shape = pare_winograd_shape(batch: Int32(input[0]), in_channels: Int32(input[1]), out_channels: Int32(output[1]),
                                    in_height: Int32(input[2]), in_width: Int32(input[3]),
                                    out_height: Int32(output[2]), out_width: Int32(output[3]),
                                    pad_top: Int32(a.padding.top), pad_left: Int32(a.padding.left), block: Int32(block),
                                    max_chunk_images: Int32(chunkImages ?? 0), portable: portable ? 1 : 0)
    }

    /// The passes of a convolution's training step.
    enum Pass: Int32, CaseIterable { case forward = 0, backwardData = 1, backwardWeights = 2 }

    /// Floats of scratch memory `pass` needs.
    func workspaceFloats(_ pass: Pass) -> Int {
        withUnsafePointer(to: shape) { Int(pare_winograd_workspace_floats($0, pass.rawValue)) }
    }

    /// `destination = conv(source, weights) + bias`.
    func forward(source: UnsafePointer<Float>, weights: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
                 destination: UnsafeMutablePointer<Float>, workspace: UnsafeMutablePointer<Float>) {
        let status = withUnsafePointer(to: shape) {
            pare_winograd_forward($0, source, weights, bias, destination, workspace)
        }
        precondition(status == 0, "Winograd forward: oneDNN sgemm failed with status \(status)")
    }

    /// `sourceGradient` = the gradient of the input, from the output's gradient.
    func backwardData(destinationGradient: UnsafePointer<Float>, weights: UnsafePointer<Float>,
                      sourceGradient: UnsafeMutablePointer<Float>, workspace: UnsafeMutablePointer<Float>) {
        let status = withUnsafePointer(to: shape) {
            pare_winograd_backward_data($0, destinationGradient, weights, sourceGradient, workspace)
        }
        precondition(status == 0, "Winograd backward data: oneDNN sgemm failed with status \(status)")
    }

    /// Overwrites `weightsGradient` (plain) and `biasGradient` (when given).
    func backwardWeights(source: UnsafePointer<Float>, destinationGradient: UnsafePointer<Float>,
                         weightsGradient: UnsafeMutablePointer<Float>, biasGradient: UnsafeMutablePointer<Float>?,
                         workspace: UnsafeMutablePointer<Float>) {
        let status = withUnsafePointer(to: shape) {
            pare_winograd_backward_weights($0, source, destinationGradient, weightsGradient, biasGradient, workspace)
        }
        precondition(status == 0, "Winograd backward weights: oneDNN sgemm failed with status \(status)")
    }
}
