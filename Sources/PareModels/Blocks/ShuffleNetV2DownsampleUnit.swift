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
    /// Limitation: torchvision's stride-1 unit splits the input channels in half
    /// (`x.chunk(2, dim=1)`), passes one half through and runs `branch2` on the other. The
    /// graph IR has no channel split (slice) op, so that unit cannot be expressed yet; see
    /// ``shuffleNetV1Unit(_:_:groups:bottleneckChannels:)`` for a stride-1 shuffle unit that can.
    public mutating func shuffleNetV2DownsampleUnit(_ x: Value, _ prefix: String, outChannels: Int) -> Value {
        let branchChannels = outChannels / 2
        let branch1 = modulePath(prefix, "branch1")
        var left = conv2d(x, modulePath(branch1, "0"), outChannels: x.channels, kernelSize: 3, stride: 2,
                          padding: 1, groups: x.channels, bias: false)
        left = batchNorm(left, modulePath(branch1, "1"))
        left = conv2d(left, modulePath(branch1, "2"), outChannels: branchChannels, kernelSize: 1, bias: false)
        left = relu(batchNorm(left, modulePath(branch1, "3")))

        let branch2 = modulePath(prefix, "branch2")
        var right = conv2d(x, modulePath(branch2, "0"), outChannels: branchChannels, kernelSize: 1, bias: false)
        right = relu(batchNorm(right, modulePath(branch2, "1")))
        right = conv2d(right, modulePath(branch2, "3"), outChannels: branchChannels, kernelSize: 3, stride: 2,
                       padding: 1, groups: branchChannels, bias: false)
        right = batchNorm(right, modulePath(branch2, "4"))
        right = conv2d(right, modulePath(branch2, "5"), outChannels: branchChannels, kernelSize: 1, bias: false)
        right = relu(batchNorm(right, modulePath(branch2, "6")))

        return channelShuffle(concat([left, right]), groups: 2)
    }
}
