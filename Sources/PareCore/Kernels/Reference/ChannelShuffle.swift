// Reference channel shuffle (ShuffleNet, PyTorch `nn.ChannelShuffle`): the channels viewed as
// (groups, C / groups) are transposed to (C / groups, groups). Output channel
// `j * groups + g` is input channel `g * (C / groups) + j`.

/// Permutes the channels.
// input, output are (N, C, S) with S = H * W.
public func referenceChannelShuffleForward<T: BinaryFloatingPoint>(
    output: inout [T], input: [T], batch: Int, channels: Int, spatial: Int, groups: Int
) {
    precondition(channels % groups == 0, "channelShuffle: groups must divide channels")
    precondition(input.count == batch * channels * spatial && output.count == input.count, "channelShuffle: count")
    let perGroup = channels / groups
    for n in 0..<batch {
        for g in 0..<groups {
            for j in 0..<perGroup {
                for s in 0..<spatial {
                    output[(n * channels + j * groups + g) * spatial + s] = input[(n * channels + g * perGroup + j) * spatial + s]
                }
            }
        }
    }
}

/// Applies the inverse permutation to the gradient.
// dOutput, dInput are (N, C, S).
public func referenceChannelShuffleBackward<T: BinaryFloatingPoint>(
    dInput: inout [T], dOutput: [T], batch: Int, channels: Int, spatial: Int, groups: Int
) {
    precondition(channels % groups == 0, "channelShuffle: groups must divide channels")
    precondition(dOutput.count == batch * channels * spatial && dInput.count == dOutput.count, "channelShuffle: count")
    let perGroup = channels / groups
    for n in 0..<batch {
        for g in 0..<groups {
            for j in 0..<perGroup {
                for s in 0..<spatial {
                    dInput[(n * channels + g * perGroup + j) * spatial + s] += dOutput[(n * channels + j * groups + g) * spatial + s]
                }
            }
        }
    }
}
