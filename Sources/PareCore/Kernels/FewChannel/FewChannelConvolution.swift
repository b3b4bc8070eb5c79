import CKernels

/// The inference forward pass of a convolution with one input channel (a grayscale image
/// network's first layer), with its bias (a batch norm folded in), an optional ReLU and an
/// optional max pooling after it, in one pass (CKernels). oneDNN 2.6's AVX2 kernel runs a
/// one-channel 3×3 convolution at about a third of the FMA peak, and a max pooling after it
/// reads the whole output back from memory; here each image and pair of 8-channel groups is
/// computed into a per-thread plane that stays in cache and is pooled from there. The
/// executor uses it only with a pooling to fuse (without one oneDNN is as fast).
///
/// The source is plain NCHW, the destination oneDNN's `nChw8c` or `nChw16c` f32, or (after a
/// pooling whose only reader is an int8 layer) 8-bit NHWC quantised as oneDNN's reorder
/// would, so that layer reads it without a reorder.
struct FewChannelConvolution {
    let shape: pare_few_channel_forward_shape

    /// Whether convolution `a` from `input` to `output` (`[N, C, H, W]`) can run here: one
    /// input channel, one group, no dilation. (The kernel takes up to 4 input channels, but
    /// on 3 oneDNN's kernel is faster: ResNet's 7×7 first layer runs at the FMA peak there.)
    static func supports(_ a: Conv2dAttributes, input: [Int], output: [Int]) -> Bool {
        input.count == 4 && output.count == 4 && input[1] == 1 && a.groups == 1 && a.dilation == [1, 1]
            && a.kernelSize.count == 2 && a.stride.count == 2
    }

    /// Whether max pooling `a` after such a convolution can be fused (any kernel, stride and
    /// padding; no dilation exists in ``Pool2dAttributes``).
    static func supportsPooling(_ a: Pool2dAttributes) -> Bool {
        a.kernelSize.count == 2 && a.stride.count == 2 && a.kernelSize.allSatisfy { $0 > 0 } && a.stride.allSatisfy { $0 > 0 }
    }

    /// `input` is `[N, C, H, W]`, `convolutionOutput` the convolution's and `output` the
    /// destination's (the pooled shape with `pooling`); `block` is the destination's channel
    /// block (8 or 16; unused when `quantizedOutput` is given: that output is 8-bit NHWC).
    init(_ a: Conv2dAttributes, input: [Int], convolutionOutput: [Int], relu: Bool, pooling: Pool2dAttributes?,
         output: [Int], block: Int, quantizedOutput: ActivationQuantization? = nil, portable: Bool = false) {
        precondition(Self.supports(a, input: input, output: convolutionOutput) && (block == 8 || block == 16)
                     && pooling.map(Self.supportsPooling) != false && (pooling != nil || output == convolutionOutput)
                     && (quantizedOutput == nil || pooling != nil),
                     "FewChannelConvolution cannot run \(a) from \(input) to \(output) in blocks of \(block)")
        let p = pooling ?? Pool2dAttributes(kernelSize: [1, 1])
        shape = pare_few_channel_forward_shape(
            batch: Int32(input[0]), in_channels: Int32(input[1]), out_channels: Int32(a.outChannels),
            in_height: Int32(input[2]), in_width: Int32(input[3]),
            conv_height: Int32(convolutionOutput[2]), conv_width: Int32(convolutionOutput[3]),
            kernel_height: Int32(a.kernelSize[0]), kernel_width: Int32(a.kernelSize[1]),
            stride_height: Int32(a.stride[0]), stride_width: Int32(a.stride[1]),
            pad_top: Int32(a.padding.top), pad_left: Int32(a.padding.left),
            relu: relu ? 1 : 0, pool: pooling == nil ? 0 : 1,
            pool_kernel_height: Int32(p.kernelSize[0]), pool_kernel_width: Int32(p.kernelSize[1]),
            pool_stride_height: Int32(p.stride[0]), pool_stride_width: Int32(p.stride[1]),
            pool_pad_top: Int32(p.padding.top), pool_pad_left: Int32(p.padding.left),
            out_height: Int32(output[2]), out_width: Int32(output[3]), block: Int32(block),
            quantized: quantizedOutput == nil ? 0 : 1, is_signed: quantizedOutput?.dtype == .i8 ? 1 : 0,
            // The reorder's multiplier, computed as DNNLExecutor.reorder does.
            inverse_scale: quantizedOutput.map { 1 / $0.scale } ?? 1, zero_point: quantizedOutput?.zeroPoint ?? 0,
            portable: portable ? 1 : 0)
    }

    /// Floats of the packed weights ``pack(weights:bias:into:)`` writes.
    var packedFloats: Int { withUnsafePointer(to: shape) { Int(pare_few_channel_forward_packed_floats($0)) } }

    /// Floats of scratch memory ``forward(source:packed:destination:workspace:)`` needs on
    /// `threads` OpenMP threads.
    func workspaceFloats(threads: Int) -> Int {
        withUnsafePointer(to: shape) { Int(pare_few_channel_forward_workspace_floats($0, Int32(threads))) }
    }

    /// Packs plain `[out, in, kh, kw]` weights and the bias (nil: zero) for the kernel.
    func pack(weights: UnsafePointer<Float>, bias: UnsafePointer<Float>?, into packed: UnsafeMutablePointer<Float>) {
        withUnsafePointer(to: shape) { pare_few_channel_forward_pack($0, weights, bias, packed) }
    }

    /// Overwrites `destination` (floats, or bytes with a quantised output).
    func forward(source: UnsafePointer<Float>, packed: UnsafePointer<Float>, destination: UnsafeMutableRawPointer,
                 workspace: UnsafeMutablePointer<Float>?) {
        withUnsafePointer(to: shape) { pare_few_channel_forward($0, source, packed, destination, workspace) }
    }
}
