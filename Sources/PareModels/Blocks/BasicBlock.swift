import PareCore

extension GraphBuilder {
    /// ResNet's basic block, as torchvision's `BasicBlock` (expansion 1):
    /// conv3x3(stride)-bn-relu-conv3x3-bn, plus the shortcut, then relu.
    ///
    /// The shortcut is the input itself, or `downsample.0` (1x1 conv with `stride`) and
    /// `downsample.1` (bn) when the stride is not 1 or the channel count changes.
    /// Parameters: `prefix.conv1`, `prefix.bn1`, `prefix.conv2`, `prefix.bn2`, `prefix.downsample.*`.
    public mutating func basicBlock(_ x: Value, _ prefix: String, planes: Int, stride: Int = 1) -> Value {
        var out = conv2d(x, modulePath(prefix, "conv1"), outChannels: planes, kernelSize: 3, stride: stride,
                         padding: 1, bias: false)
        out = relu(batchNorm(out, modulePath(prefix, "bn1")))
        out = conv2d(out, modulePath(prefix, "conv2"), outChannels: planes, kernelSize: 3, padding: 1, bias: false)
        out = batchNorm(out, modulePath(prefix, "bn2"))
        let identity = residualShortcut(x, prefix, outChannels: planes, stride: stride)
        return relu(add(out, identity))
    }

    /// torchvision ResNet's shortcut: `x`, or a strided 1x1 conv (`downsample.0`) and bn
    /// (`downsample.1`) when the stride or the channel count changes.
    mutating func residualShortcut(_ x: Value, _ prefix: String, outChannels: Int, stride: Int) -> Value {
        guard stride != 1 || x.channels != outChannels else { return x }
        let path = modulePath(prefix, "downsample")
        let shortcut = conv2d(x, modulePath(path, "0"), outChannels: outChannels, kernelSize: 1, stride: stride,
                              bias: false)
        return batchNorm(shortcut, modulePath(path, "1"))
    }
}
