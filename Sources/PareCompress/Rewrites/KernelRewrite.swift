import PareCore

/// `kernel`: a k x k convolution becomes a k' x k' one (5x5 -> 3x3), keeping its name,
/// initialised from the central k' x k' window of each filter; the padding shrinks by
/// `(k − k')/2 · dilation` on each side so the output shape is unchanged. Each axis is
/// shrunk separately (a 5x1 kernel keeps its width). Throws, naming the layer, when the
/// padding would go negative.
public enum KernelRewrite {
    public static let kind = "kernel"

    public static func apply(_ graph: Graph, kernelSize: Int, selection: RewriteSelection = RewriteSelection(),
                             excluded: Set<String> = [], measurement: RewriteMeasurement = RewriteMeasurement()) throws -> RewriteResult {
        guard kernelSize >= 1 else { throw RewriteError.invalidSettings("kernel: size must be at least 1, got \(kernelSize)") }
        return try LayerRewrite.apply(graph, kind: kind, selection: selection, excluded: excluded, measurement: measurement) { layer in
            guard case let .conv2d(a) = layer.node.op else { return .notApplicable }
            let (kh, kw) = (a.kernelSize[0], a.kernelSize[1])
            let newH = min(kh, kernelSize), newW = min(kw, kernelSize)
            guard newH < kh || newW < kw else { return .skip("\(kernelText(a)) kernel is not larger than \(kernelSize)x\(kernelSize)") }
            guard (kh - newH) % 2 == 0, (kw - newW) % 2 == 0 else {
                return .skip("\(kernelText(a)) kernel has no central \(newH)x\(newW) window (sizes differ by an odd number)")
            }
            let (trimH, trimW) = ((kh - newH) / 2, (kw - newW) / 2)
            var b = a
            b.kernelSize = [newH, newW]
            b.padding = Padding2d(top: a.padding.top - trimH * a.dilation[0], left: a.padding.left - trimW * a.dilation[1],
                                  bottom: a.padding.bottom - trimH * a.dilation[0], right: a.padding.right - trimW * a.dilation[1])
            let p = b.padding
            guard min(p.top, p.left, p.bottom, p.right) >= 0 else {
                throw RewriteError.invalidSettings(
                    "kernel: '\(layer.node.name)' (\(kernelText(a)), padding \(a.padding.top),\(a.padding.left),\(a.padding.bottom),"
                    + "\(a.padding.right), dilation \(a.dilation[0])x\(a.dilation[1])) cannot become \(newH)x\(newW) with the same "
                    + "output shape: its padding would be negative; leave it out with --skip '\(layer.node.name)'")
            }
            let weight = layer.parameters["weight"]!
            let s = weight.shape.dimensions
            let cropped = Tensor(zeros: [s[0], s[1], newH, newW])
            let w = weight.floats, out = cropped.floats
            for row in 0..<(s[0] * s[1]) { for i in 0..<newH { for j in 0..<newW {
                out[(row * newH + i) * newW + j] = w[(row * kh + i + trimH) * kw + j + trimW]
            } } }
            let bias = layer.parameters["bias"]?.copy()
            let name = layer.node.name
            let detail = "conv \(kernelText(a)) -> \(newH)x\(newW) (central window)"
            return .replace(detail: detail) { editor, x in
                var parameters = ["weight": cropped.copy()]
                if let bias { parameters["bias"] = bias.copy() }
                return editor.add(name, op: .conv2d(b), inputs: [x], parameters: parameters)
            }
        }
    }
}
