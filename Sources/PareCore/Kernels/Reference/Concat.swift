// Reference concatenation along the channel axis (PyTorch `torch.cat(xs, dim=1)`).
// Input k is (N, C_k, INNER) where INNER is the product of the dimensions after the channels
// (H * W for images, 1 for [N, C]); the output is (N, sum of C_k, INNER).

/// Copies each input into its channel range of `output`, in order.
// inputs[k] is (N, channels[k], INNER); output is (N, sum(channels), INNER).
public func referenceConcatForward<T: BinaryFloatingPoint>(
    output: inout [T], inputs: [[T]], channels: [Int], batch: Int, inner: Int
) {
    let total = channels.reduce(0, +)
    precondition(inputs.count == channels.count && output.count == batch * total * inner, "concat: count")
    for n in 0..<batch {
        var offset = 0
        for (k, input) in inputs.enumerated() {
            precondition(input.count == batch * channels[k] * inner, "concat: input \(k) count")
            for c in 0..<channels[k] {
                for s in 0..<inner {
                    output[(n * total + offset + c) * inner + s] = input[(n * channels[k] + c) * inner + s]
                }
            }
            offset += channels[k]
        }
    }
}

/// Each input's gradient is its channel range of `dOutput`.
// dOutput is (N, sum(channels), INNER); dInputs[k] is (N, channels[k], INNER).
public func referenceConcatBackward<T: BinaryFloatingPoint>(
    dInputs: inout [[T]], dOutput: [T], channels: [Int], batch: Int, inner: Int
) {
    let total = channels.reduce(0, +)
    precondition(dInputs.count == channels.count && dOutput.count == batch * total * inner, "concat: count")
    for n in 0..<batch {
        var offset = 0
        for k in dInputs.indices {
            precondition(dInputs[k].count == batch * channels[k] * inner, "concat: dInput \(k) count")
            for c in 0..<channels[k] {
                for s in 0..<inner {
                    dInputs[k][(n * channels[k] + c) * inner + s] += dOutput[(n * total + offset + c) * inner + s]
                }
            }
            offset += channels[k]
        }
    }
}
