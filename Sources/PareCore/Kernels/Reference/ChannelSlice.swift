// Reference channel slice (PyTorch `x[:, start:start+count]`, one half of `x.chunk(2, dim=1)`).

/// Copies channels `start ..< start + count`.
// input is (N, C, S), output is (N, count, S) with S the elements per channel.
public func referenceChannelSliceForward<T: BinaryFloatingPoint>(
    output: inout [T], input: [T], batch: Int, channels: Int, spatial: Int, start: Int, count: Int
) {
    precondition(start >= 0 && count > 0 && start + count <= channels, "channelSlice: range outside the channels")
    precondition(input.count == batch * channels * spatial && output.count == batch * count * spatial, "channelSlice: count")
    for n in 0..<batch {
        for c in 0..<count {
            for s in 0..<spatial {
                output[(n * count + c) * spatial + s] = input[(n * channels + start + c) * spatial + s]
            }
        }
    }
}

/// Adds the gradient of the slice into its channels of `dInput`.
// dOutput is (N, count, S), dInput is (N, C, S).
public func referenceChannelSliceBackward<T: BinaryFloatingPoint>(
    dInput: inout [T], dOutput: [T], batch: Int, channels: Int, spatial: Int, start: Int, count: Int
) {
    precondition(dInput.count == batch * channels * spatial && dOutput.count == batch * count * spatial, "channelSlice: count")
    for n in 0..<batch {
        for c in 0..<count {
            for s in 0..<spatial {
                dInput[(n * channels + start + c) * spatial + s] += dOutput[(n * count + c) * spatial + s]
            }
        }
    }
}
