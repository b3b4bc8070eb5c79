import CKernels

/// The weights' (and bias') gradient of a convolution with 1 to 4 input channels, an image
/// network's first layer (CKernels): the source is plain NCHW, the output's gradient in
/// oneDNN's blocked layout `nChw{block}c`. oneDNN 2.6's AVX2 kernel runs these at about 10
/// GFLOP/s, with a reorder of the source first; this vectorises over output channels.
///
/// The batch is split into `threads` shares summed separately and then added in order, so
/// results depend on the thread count only.
struct FewChannelWeightGradient {
    let shape: pare_few_channel_shape

    /// Whether a convolution with attributes `a` from `input` to `output` (`[N, C, H, W]`)
    /// can run here: 1 to 4 input channels, one group, no dilation.
    static func supports(_ a: Conv2dAttributes, input: [Int], output: [Int]) -> Bool {
        input.count == 4 && output.count == 4 && (1...4).contains(input[1]) && a.groups == 1
            && a.dilation == [1, 1] && a.kernelSize.count == 2 && a.stride.count == 2
    }

    /// `input` and `output` are `[N, C, H, W]`; `block` is the output layout's channel block
    /// (8 or 16); `threads` the shares of the batch (the executor's thread count).
    init(_ a: Conv2dAttributes, input: [Int], output: [Int], block: Int, threads: Int, portable: Bool = false) {
        precondition(Self.supports(a, input: input, output: output) && (block == 8 || block == 16) && threads > 0,
                     "FewChannelWeightGradient cannot run \(a) from \(input) to \(output) in blocks of \(block)")
        shape = pare_few_channel_shape(batch: Int32(input[0]), in_channels: Int32(input[1]), out_channels: Int32(output[1]),
                                       in_height: Int32(input[2]), in_width: Int32(input[3]),
                                       out_height: Int32(output[2]), out_width: Int32(output[3]),
                                       kernel_height: Int32(a.kernelSize[0]), kernel_width: Int32(a.kernelSize[1]),
                                       stride_height: Int32(a.stride[0]), stride_width: Int32(a.stride[1]),
                                       pad_top: Int32(a.padding.top), pad_left: Int32(a.padding.left),
                                       block: Int32(block), threads: Int32(threads), portable: portable ? 1 : 0)
    }

    /// Floats of scratch memory it needs.
    var workspaceFloats: Int { withUnsafePointer(to: shape) { Int(pare_few_channel_workspace_floats($0)) } }

    /// Overwrites `weightsGradient` (plain `[out, in, kh, kw]`) and `biasGradient` (when given).
    func backwardWeights(source: UnsafePointer<Float>, destinationGradient: UnsafePointer<Float>,
                         weightsGradient: UnsafeMutablePointer<Float>, biasGradient: UnsafeMutablePointer<Float>?,
                         workspace: UnsafeMutablePointer<Float>) {
        withUnsafePointer(to: shape) {
            pare_few_channel_backward_weights($0, source, destinationGradient, weightsGradient, biasGradient, workspace)
        }
    }
}
