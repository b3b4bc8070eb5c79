import PareCore

extension GraphBuilder {
    /// Squeeze-and-excitation, as torchvision's `ops.SqueezeExcitation`: global average pool,
    /// 1x1 conv `fc1` (with bias) to `squeezeChannels`, `activation`, 1x1 conv `fc2` back to
    /// the input's channels, `scaleActivation`, and the input multiplied by that per-channel
    /// gate. Parameters `prefix.fc1.*`, `prefix.fc2.*`.
    public mutating func squeezeExcitation(_ x: Value, _ prefix: String, squeezeChannels: Int, activation: Op = .relu,
                                           scaleActivation: Op = .sigmoid) -> Value {
        var gate = globalAvgPool(x)
        gate = node(activation, [conv2d(gate, modulePath(prefix, "fc1"), outChannels: squeezeChannels, kernelSize: 1)])
        gate = node(scaleActivation, [conv2d(gate, modulePath(prefix, "fc2"), outChannels: x.channels, kernelSize: 1)])
        return mul(x, gate)
    }

    /// torchvision's `Conv2dNormActivation` at `path`: a bias-free conv `path.0` with "same"
    /// padding `(kernelSize - 1) / 2`, batch norm `path.1`, then `activation` when given.
    mutating func convNormActivation(_ x: Value, _ path: String, outChannels: Int, kernelSize: Int, stride: Int = 1,
                                     groups: Int = 1, eps: Double = 1e-5, momentum: Double = 0.1,
                                     activation: Op?) -> Value {
        var y = conv2d(x, modulePath(path, "0"), outChannels: outChannels, kernelSize: kernelSize, stride: stride,
                       padding: (kernelSize - 1) / 2, groups: groups, bias: false)
        y = batchNorm(y, modulePath(path, "1"), eps: eps, momentum: momentum)
        if let activation { y = node(activation, [y]) }
        return y
    }
}
