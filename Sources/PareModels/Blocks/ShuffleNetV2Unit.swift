import PareCore

extension GraphBuilder {
    /// ShuffleNetV2's stride-2 unit, exactly torchvision's `shufflenetv2.InvertedResidual`
    /// with `stride=2`: both branches read the whole input, their outputs (each
    /// `outChannels / 2` channels) are concatenated and shuffled with 2 groups.
    ///
    /// - `branch1`: depthwise 3x3 stride 2 (`branch1.0`), bn (`branch1.1`), 1x1 conv
    ///   (`branch1.2`), bn (`branch1.3`), relu.
    /// - `branch2`: 1x1 conv (`branch2.0`), bn (`branch2.1`), relu, depthwise 3x3 stride 2
    ///   (`branch2.3`), bn (`branch2.4`), 1x1 conv (`branch2.5`), bn (`branch2.6`), relu.
    ///
    /// The stride-1 unit is ``shuffleNetV2Unit(_:_:)``.
    public mutating func shuffleNetV2DownsampleUnit(_ x: Value, _ prefix: String, outChannels: Int) -> Value {
        let branchChannels = outChannels / 2
        let branch1 = modulePath(prefix, "branch1")
        var left = conv2d(x, modulePath(branch1, "0"), outChannels: x.channels, kernelSize: 3, stride: 2,
                          padding: 1, groups: x.channels, bias: false)
        left = batchNorm(left, modulePath(branch1, "1"))
        left = conv2d(left, modulePath(branch1, "2"), outChannels: branchChannels, kernelSize: 1, bias: false)
        left = relu(batchNorm(left, modulePath(branch1, "3")))

        let right = shuffleNetV2Branch2(x, prefix, channels: branchChannels, stride: 2)
        return channelShuffle(concat([left, right]), groups: 2)
    }

    /// ShuffleNetV2's stride-1 unit, exactly torchvision's `shufflenetv2.InvertedResidual`
    /// with `stride=1`: the input's channels are split in half (`x.chunk(2, dim=1)`), the
    /// first half passes through, `branch2` runs on the second, and the two are concatenated
    /// and shuffled with 2 groups.
    public mutating func shuffleNetV2Unit(_ x: Value, _ prefix: String) -> Value {
        let halves = chunkChannels(x, 2)
        let right = shuffleNetV2Branch2(halves[1], prefix, channels: x.channels / 2, stride: 1)
        return channelShuffle(concat([halves[0], right]), groups: 2)
    }

    /// `branch2`: 1x1 conv (`branch2.0`), bn (`branch2.1`), relu, depthwise 3x3
    /// (`branch2.3`), bn (`branch2.4`), 1x1 conv (`branch2.5`), bn (`branch2.6`), relu.
    mutating func shuffleNetV2Branch2(_ x: Value, _ prefix: String, channels: Int, stride: Int) -> Value {
        let branch2 = modulePath(prefix, "branch2")
        var right = conv2d(x, modulePath(branch2, "0"), outChannels: channels, kernelSize: 1, bias: false)
        right = relu(batchNorm(right, modulePath(branch2, "1")))
        right = conv2d(right, modulePath(branch2, "3"), outChannels: channels, kernelSize: 3, stride: stride,
                       padding: 1, groups: channels, bias: false)
        right = batchNorm(right, modulePath(branch2, "4"))
        right = conv2d(right, modulePath(branch2, "5"), outChannels: channels, kernelSize: 1, bias: false)
        return relu(batchNorm(right, modulePath(branch2, "6")))
    }
}
