import PareCore

extension GraphBuilder {
    /// MobileNetV3's inverted residual, as torchvision's `mobilenetv3.InvertedResidual`
    /// (without dilation): `block.0` expand (1x1 conv-bn-activation, only when
    /// `expandedChannels` differs from the input's), the depthwise `kernelSize` conv with
    /// `stride`-bn-activation, squeeze-and-excitation when `squeezeExcite` (squeeze to
    /// `makeDivisible(expanded / 4)`, ReLU, hard-sigmoid gate), the 1x1 project conv-bn, and a
    /// residual add when `stride == 1` and the channel count is unchanged. The activation is
    /// hard swish when `hardSwish`, else ReLU; batch norms have eps 0.001, momentum 0.01.
    public mutating func mobileNetV3Block(_ x: Value, _ prefix: String, kernelSize: Int, expandedChannels: Int,
                                          outChannels: Int, squeezeExcite: Bool, hardSwish: Bool, stride: Int) -> Value {
        let activation: Op = hardSwish ? .hardSwish : .relu
        let sequential = modulePath(prefix, "block")
        var index = 0
        func next() -> String {
            defer { index += 1 }
            return modulePath(sequential, String(index))
        }
        var out = x
        if expandedChannels != x.channels {
            out = convNormActivation(out, next(), outChannels: expandedChannels, kernelSize: 1, eps: 0.001, momentum: 0.01,
                                     activation: activation)
        }
        out = convNormActivation(out, next(), outChannels: expandedChannels, kernelSize: kernelSize, stride: stride,
                                 groups: expandedChannels, eps: 0.001, momentum: 0.01, activation: activation)
        if squeezeExcite {
            out = squeezeExcitation(out, next(), squeezeChannels: makeDivisible(Double(expandedChannels / 4)),
                                    activation: .relu, scaleActivation: .hardSigmoid)
        }
        out = convNormActivation(out, next(), outChannels: outChannels, kernelSize: 1, eps: 0.001, momentum: 0.01,
                                 activation: nil)
        return stride == 1 && x.channels == outChannels ? add(out, x) : out
    }
}
