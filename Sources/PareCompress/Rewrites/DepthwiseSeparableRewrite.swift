import PareCore

/// `dwpw`: a k x k convolution (k > 1, groups 1) becomes a depthwise k x k convolution (same
/// stride, padding and dilation, one filter per input channel) followed by a pointwise 1x1
/// convolution (Cin -> Cout, carrying the original bias), optionally with an
/// identity-initialised batch norm and a ReLU between them (`withBatchNorm`, the seed
/// reports' depthwise-separable ResNet-18).
///
/// Initialisation is the least-squares-best such pair: for each input channel c the
/// Cout x k² slice `W[:, c, :, :]` is closest in Frobenius norm to its rank-1 SVD term
/// `σ·u·vᵀ`, so depthwise filter c is `v` and pointwise column c is `σ·u`. (With the batch
/// norm and ReLU in between, that pair is only where training starts.) New nodes are named
/// `NAME.depthwise`, `NAME.bn`, `NAME.relu`, `NAME.pointwise`.
public enum DepthwiseSeparableRewrite {
    public static let kind = "dwpw"

    public static func apply(_ graph: Graph, withBatchNorm: Bool = false, selection: RewriteSelection = RewriteSelection(),
                             excluded: Set<String> = [], measurement: RewriteMeasurement = RewriteMeasurement()) throws -> RewriteResult {
        try LayerRewrite.apply(graph, kind: kind, selection: selection, excluded: excluded, measurement: measurement) { layer in
            guard case let .conv2d(a) = layer.node.op else { return .notApplicable }
            guard a.kernelSize[0] * a.kernelSize[1] > 1 else { return .skip("1x1 convolution: already pointwise") }
            let inChannels = layer.inputShape[0]
            guard a.groups == 1 else {
                return .skip(a.groups == inChannels ? "depthwise convolution" : "grouped convolution (\(a.groups) groups)")
            }
            let (depthwise, pointwise) = try factors(layer.parameters["weight"]!)
            let bias = layer.parameters["bias"]?.copy()
            var dwAttributes = a
            dwAttributes.outChannels = inChannels
            dwAttributes.groups = inChannels
            dwAttributes.bias = false
            let pwAttributes = Conv2dAttributes(outChannels: a.outChannels, kernelSize: [1, 1], bias: a.bias)
            let name = layer.node.name
            let detail = "conv \(kernelText(a)) \(inChannels)->\(a.outChannels) -> dw \(kernelText(a))"
                + (withBatchNorm ? " + bn + relu" : "") + " + pw \(inChannels)->\(a.outChannels)"
            return .replace(detail: detail) { editor, x in
                var y = editor.add(name + ".depthwise", op: .conv2d(dwAttributes), inputs: [x], parameters: ["weight": depthwise.copy()])
                if withBatchNorm {
                    y = editor.add(name + ".bn", op: .batchNorm(BatchNormAttributes()), inputs: [y], parameters: [
                        "weight": Tensor(repeating: 1, shape: [inChannels]), "bias": Tensor(zeros: [inChannels]),
                        "running_mean": Tensor(zeros: [inChannels]), "running_var": Tensor(repeating: 1, shape: [inChannels]),
                        "num_batches_tracked": Tensor(zeros: [], dtype: .i64),
                    ])
                    y = editor.add(name + ".relu", op: .relu, inputs: [y])
                }
                var parameters = ["weight": pointwise.copy()]
                if let bias { parameters["bias"] = bias.copy() }
                return editor.add(name + ".pointwise", op: .conv2d(pwAttributes), inputs: [y], parameters: parameters)
            }
        }
    }

    /// The least-squares depthwise `[Cin, 1, kh, kw]` and pointwise `[Cout, Cin, 1, 1]`
    /// weights for a dense weight `[Cout, Cin, kh, kw]`.
    public static func factors(_ weight: Tensor) throws -> (depthwise: Tensor, pointwise: Tensor) {
        let s = weight.shape.dimensions
        let (cout, cin, kh, kw) = (s[0], s[1], s[2], s[3])
        let k2 = kh * kw
        let w = weight.floats
        var depthwise = [Double](repeating: 0, count: cin * k2)
        var pointwise = [Double](repeating: 0, count: cout * cin)
        for c in 0..<cin {
            var slice = Matrix(zeros: cout, k2)
            for o in 0..<cout { for t in 0..<k2 { slice[o, t] = Double(w[(o * cin + c) * k2 + t]) } }
            let svd = try SingularValueDecomposition(slice)
            let sigma = svd.singularValues[0]
            for t in 0..<k2 { depthwise[c * k2 + t] = svd.vt[0, t] }
            for o in 0..<cout { pointwise[o * cin + c] = sigma * svd.u[o, 0] }
        }
        return (Tensor.from(depthwise, shape: [cin, 1, kh, kw]), Tensor.from(pointwise, shape: [cout, cin, 1, 1]))
    }
}
