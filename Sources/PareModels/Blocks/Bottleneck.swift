import PareCore

extension GraphBuilder {
    /// ResNet's bottleneck block, as torchvision's `Bottleneck` (ResNet v1.5, expansion 4):
    /// conv1x1-bn-relu, conv3x3(stride)-bn-relu, conv1x1 to `4 * planes`-bn, plus the
    /// shortcut, then relu.
    ///
    /// The shortcut is the input itself, or `downsample.0` (1x1 conv with `stride`) and
    /// `downsample.1` (bn) when the stride is not 1 or the channel count changes.
    /// Parameters: `prefix.conv1` ... `prefix.bn3`, `prefix.downsample.*`.
    public mutating func bottleneck(_ x: Value, _ prefix: String, planes: Int, stride: Int = 1) -> Value {
        let outChannels = planes * 4
        var out = conv2d(x, modulePath(prefix, "conv1"), outChannels: planes, kernelSize: 1, bias: false)
        out = relu(batchNorm(out, modulePath(prefix, "bn1")))
        out = conv2d(out, modulePath(prefix, "conv2"), outChannels: planes, kernelSize: 3, stride: stride,
                     padding: 1, bias: false)
        out = relu(batchNorm(out, modulePath(prefix, "bn2")))
        out = conv2d(out, modulePath(prefix, "conv3"), outChannels: outChannels, kernelSize: 1, bias: false)
        out = batchNorm(out, modulePath(prefix, "bn3"))
        let identity = residualShortcut(x, prefix, outChannels: outChannels, stride: stride)
        return relu(add(out, identity))
    }
}
