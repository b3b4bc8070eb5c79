import PareCore

extension GraphBuilder {
    /// MobileNetV2's inverted residual, as torchvision's `mobilenetv2.InvertedResidual`:
    /// expand (1x1 conv-bn-relu6, to `expandRatio * inChannels`), depthwise 3x3 conv with
    /// `stride`-bn-relu6, project (1x1 conv-bn), and a residual add when `stride == 1` and the
    /// channel count is unchanged.
    ///
    /// Parameter names follow torchvision's `conv` sequential: with expansion `conv.0.0`/
    /// `conv.0.1` (expand), `conv.1.0`/`conv.1.1` (depthwise), `conv.2` (project), `conv.3`
    /// (bn); with `expandRatio == 1` the expand layer is absent and the indices shift down:
    /// `conv.0.0`/`conv.0.1` (depthwise), `conv.1` (project), `conv.2` (bn).
    public mutating func invertedResidual(_ x: Value, _ prefix: String, outChannels: Int, stride: Int,
                                          expandRatio: Int) -> Value {
        let hidden = x.channels * expandRatio
        let sequential = modulePath(prefix, "conv")
        var index = 0
        // The path of the next entry of the `conv` sequential.
        func next() -> String {
            defer { index += 1 }
            return modulePath(sequential, String(index))
        }

        var out = x
        if expandRatio != 1 {
            let block = next()
            out = conv2d(out, modulePath(block, "0"), outChannels: hidden, kernelSize: 1, bias: false)
            out = relu6(batchNorm(out, modulePath(block, "1")))
        }
        let depthwise = next()
        out = conv2d(out, modulePath(depthwise, "0"), outChannels: hidden, kernelSize: 3, stride: stride,
                     padding: 1, groups: hidden, bias: false)
        out = relu6(batchNorm(out, modulePath(depthwise, "1")))
        out = conv2d(out, next(), outChannels: outChannels, kernelSize: 1, bias: false)
        out = batchNorm(out, next())
        return stride == 1 && x.channels == outChannels ? add(x, out) : out
    }
}
