import PareCore

extension GraphBuilder {
    /// EfficientNet's MBConv, as torchvision's `efficientnet.MBConv`: `block.0` expand (1x1
    /// conv-bn-SiLU to `makeDivisible(input * expandRatio)`, only when that differs from the
    /// input's channels), the depthwise `kernelSize` conv with `stride`-bn-SiLU,
    /// squeeze-and-excitation (squeeze to `max(1, input / 4)` of the block's input channels,
    /// SiLU, sigmoid gate), the 1x1 project conv-bn, and a residual add when `stride == 1` and
    /// the channel count is unchanged.
    ///
    /// torchvision's stochastic depth on the residual branch (identity in evaluation) is not
    /// modelled: trained in Pare, the branch is always kept.
    public mutating func mbConv(_ x: Value, _ prefix: String, expandRatio: Int, kernelSize: Int, stride: Int,
                                outChannels: Int) -> Value {
        let expanded = makeDivisible(Double(x.channels * expandRatio))
        let sequential = modulePath(prefix, "block")
        var index = 0
        func next() -> String {
            defer { index += 1 }
            return modulePath(sequential, String(index))
        }
        var out = x
        if expanded != x.channels {
            out = convNormActivation(out, next(), outChannels: expanded, kernelSize: 1, activation: .silu)
        }
        out = convNormActivation(out, next(), outChannels: expanded, kernelSize: kernelSize, stride: stride,
                                 groups: expanded, activation: .silu)
        out = squeezeExcitation(out, next(), squeezeChannels: max(1, x.channels / 4), activation: .silu,
                                scaleActivation: .sigmoid)
        out = convNormActivation(out, next(), outChannels: outChannels, kernelSize: 1, activation: nil)
        return stride == 1 && x.channels == outChannels ? add(out, x) : out
    }
}
