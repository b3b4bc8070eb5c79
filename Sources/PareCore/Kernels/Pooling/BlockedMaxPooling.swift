import CKernels

/// Max pooling on oneDNN's blocked layout `nChw{block}c` (CKernels), keeping each maximum's
/// position in its window (one byte per output element) for the backward pass. oneDNN 2.6's
/// own AVX2 max pooling moves about 3 GB/s in training; this streams at memory speed.
///
/// Padding counts as -infinity and windows are clipped to the input (PyTorch, ceil mode
/// included). The first maximum in the window wins, and a NaN wins over any number.
struct BlockedMaxPooling {
    let shape: pare_max_pool_shape

    /// Whether a max pooling with attributes `a` from `input` to `output` (`[N, C, H, W]`)
    /// can run here: any kernel of at most 255 elements, stride and padding.
    static func supports(_ a: Pool2dAttributes, input: [Int], output: [Int]) -> Bool {
        input.count == 4 && output.count == 4 && a.kernelSize.count == 2 && a.stride.count == 2
            && a.kernelSize[0] * a.kernelSize[1] <= 255 && a.kernelSize.allSatisfy { $0 > 0 }
            && a.stride.allSatisfy { $0 > 0 }
    }

    /// `input` and `output` are `[N, C, H, W]`; `block` is the layout's channel block (8 or 16).
    init(_ a: Pool2dAttributes, input: [Int], output: [Int], block: Int) {
        precondition(Self.supports(a, input: input, output: output) && (block == 8 || block == 16),
                     "BlockedMaxPooling cannot run \(a) from \(input) to \(output) in blocks of \(block)")
        shape = pare_max_pool_shape(batch: Int32(input[0]), channels: Int32(input[1]),
                                    in_height: Int32(input[2]), in_width: Int32(input[3]),
                                    out_height: Int32(output[2]), out_width: Int32(output[3]),
                                    kernel_height: Int32(a.kernelSize[0]), kernel_width: Int32(a.kernelSize[1]),
                                    stride_height: Int32(a.stride[0]), stride_width: Int32(a.stride[1]),
                                    pad_top: Int32(a.padding.top), pad_left: Int32(a.padding.left), block: Int32(block))
    }

    /// Bytes of the positions ``forward(source:destination:positions:)`` records.
    var positionBytes: Int { withUnsafePointer(to: shape) { Int(pare_max_pool_output_elements($0)) } }

    /// `destination` = each window's maximum; `positions` (when given) = where it was.
    func forward(source: UnsafePointer<Float>, destination: UnsafeMutablePointer<Float>,
                 positions: UnsafeMutablePointer<UInt8>?) {
        withUnsafePointer(to: shape) { pare_max_pool_forward($0, source, destination, positions) }
    }

    /// Overwrites `sourceGradient` with the input's gradient.
    func backward(destinationGradient: UnsafePointer<Float>, positions: UnsafePointer<UInt8>,
                  sourceGradient: UnsafeMutablePointer<Float>) {
        withUnsafePointer(to: shape) { pare_max_pool_backward($0, destinationGradient, positions, sourceGradient) }
    }
}
