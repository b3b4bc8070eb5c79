import PareCore

extension GraphBuilder {
    /// A ShuffleNet v1-style stride-1 unit (Zhang et al. 2017, figure 2b): grouped 1x1 conv
    /// (`groups`)-bn-relu, channel shuffle (`groups`), depthwise 3x3 conv-bn, grouped 1x1
    /// conv back to the input's channel count-bn, residual add, relu.
    ///
    /// torchvision has no ShuffleNet v1, so the names follow its ResNet blocks: `prefix.conv1`,
    /// `prefix.bn1`, `prefix.conv2` (depthwise), `prefix.bn2`, `prefix.conv3`, `prefix.bn3`.
    /// `bottleneckChannels` defaults to a quarter of the input channels, as in the paper; it
    /// and the input channels must be divisible by `groups`.
    public mutating func shuffleNetV1Unit(_ x: Value, _ prefix: String, groups: Int,
                                          bottleneckChannels: Int? = nil) -> Value {
        let bottleneck = bottleneckChannels ?? x.channels / 4
        var out = conv2d(x, modulePath(prefix, "conv1"), outChannels: bottleneck, kernelSize: 1, groups: groups,
                         bias: false)
        out = relu(batchNorm(out, modulePath(prefix, "bn1")))
        out = channelShuffle(out, groups: groups)
        out = conv2d(out, modulePath(prefix, "conv2"), outChannels: bottleneck, kernelSize: 3, padding: 1,
                     groups: bottleneck, bias: false)
        out = batchNorm(out, modulePath(prefix, "bn2"))
        out = conv2d(out, modulePath(prefix, "conv3"), outChannels: x.channels, kernelSize: 1, groups: groups,
                     bias: false)
        out = batchNorm(out, modulePath(prefix, "bn3"))
        return relu(add(x, out))
    }
}
