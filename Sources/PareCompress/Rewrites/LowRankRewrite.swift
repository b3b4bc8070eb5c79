import PareCore

/// `svd`: a layer becomes two thinner ones by a truncated SVD of its weight.
///
/// - A linear layer `[out, in]` or a 1x1 convolution (groups 1) `W = U Σ Vᵀ` becomes
///   `NAME.reduce` (in -> r, weight `√Σ_r V_rᵀ`, the original stride and padding) and
///   `NAME.expand` (r -> out, weight `U_r √Σ_r`, the original bias).
/// - A k x k convolution (groups 1) is split spatially: W reshaped to the
///   `(Cin·kh) x (Cout·kw)` matrix `M[(c,i), (o,j)] = W[o, c, i, j]` is factored, and becomes
///   `NAME.vertical` (Cin -> r, kernel [kh, 1], the original vertical stride, padding and
///   dilation) and `NAME.horizontal` (r -> Cout, kernel [1, kw], the horizontal ones, bias).
///
/// At full rank the output is unchanged (up to rounding); below it, each is the best
/// approximation of its rank in the Frobenius norm of the (reshaped) weight.
public enum LowRankRewrite {
    public static let kind = "svd"

    public static func apply(_ graph: Graph, rank: RankChoice = .standard, selection: RewriteSelection = RewriteSelection(),
                             excluded: Set<String> = [], measurement: RewriteMeasurement = RewriteMeasurement()) throws -> RewriteResult {
        try rank.check()
        return try LayerRewrite.apply(graph, kind: kind, selection: selection, excluded: excluded, measurement: measurement) { layer in
            let name = layer.node.name
            let bias = layer.parameters["bias"]?.copy()
            switch layer.node.op {
            case let .linear(a):
                let (first, second, r) = try channelFactors(layer.parameters["weight"]!.matrix(rows: a.outFeatures), rank: rank)
                let inFeatures = layer.inputShape[0]
                let detail = "linear \(inFeatures)->\(a.outFeatures) -> linear \(inFeatures)->\(r) + linear \(r)->\(a.outFeatures) (\(rank))"
                return .replace(detail: detail) { editor, x in
                    let y = editor.add(name + ".reduce", op: .linear(LinearAttributes(outFeatures: r, bias: false)), inputs: [x],
                                       parameters: ["weight": Tensor.from(first.values, shape: [r, inFeatures])])
                    var parameters = ["weight": Tensor.from(second.values, shape: [a.outFeatures, r])]
                    if let bias { parameters["bias"] = bias.copy() }
                    return editor.add(name + ".expand", op: .linear(a), inputs: [y], parameters: parameters)
                }
            case let .conv2d(a):
                let inChannels = layer.inputShape[0]
                guard a.groups == 1 else {
                    return .skip(a.groups == inChannels ? "depthwise convolution" : "grouped convolution (\(a.groups) groups)")
                }
                let weight = layer.parameters["weight"]!
                let (kh, kw) = (a.kernelSize[0], a.kernelSize[1])
                if kh * kw == 1 {
                    let (first, second, r) = try channelFactors(weight.matrix(rows: a.outChannels), rank: rank)
                    var reduce = a
                    reduce.outChannels = r
                    reduce.bias = false
                    let expand = Conv2dAttributes(outChannels: a.outChannels, kernelSize: [1, 1], bias: a.bias)
                    let detail = "conv 1x1 \(inChannels)->\(a.outChannels) -> 1x1 \(inChannels)->\(r) + 1x1 \(r)->\(a.outChannels) (\(rank))"
                    return .replace(detail: detail) { editor, x in
                        let y = editor.add(name + ".reduce", op: .conv2d(reduce), inputs: [x],
                                           parameters: ["weight": Tensor.from(first.values, shape: [r, inChannels, 1, 1])])
                        var parameters = ["weight": Tensor.from(second.values, shape: [a.outChannels, r, 1, 1])]
                        if let bias { parameters["bias"] = bias.copy() }
                        return editor.add(name + ".expand", op: .conv2d(expand), inputs: [y], parameters: parameters)
                    }
                }
                let (vertical, horizontal, r) = try spatialFactors(weight, rank: rank)
                let v = Conv2dAttributes(outChannels: r, kernelSize: [kh, 1], stride: [a.stride[0], 1],
                                         padding: Padding2d(top: a.padding.top, left: 0, bottom: a.padding.bottom, right: 0),
                                         dilation: [a.dilation[0], 1], bias: false)
                let h = Conv2dAttributes(outChannels: a.outChannels, kernelSize: [1, kw], stride: [1, a.stride[1]],
                                         padding: Padding2d(top: 0, left: a.padding.left, bottom: 0, right: a.padding.right),
                                         dilation: [1, a.dilation[1]], bias: a.bias)
                let detail = "conv \(kh)x\(kw) \(inChannels)->\(a.outChannels) -> \(kh)x1 \(inChannels)->\(r) + 1x\(kw) \(r)->\(a.outChannels) (\(rank))"
                return .replace(detail: detail) { editor, x in
                    let y = editor.add(name + ".vertical", op: .conv2d(v), inputs: [x], parameters: ["weight": vertical.copy()])
                    var parameters = ["weight": horizontal.copy()]
                    if let bias { parameters["bias"] = bias.copy() }
                    return editor.add(name + ".horizontal", op: .conv2d(h), inputs: [y], parameters: parameters)
                }
            case .input, .batchNorm, .relu, .relu6, .hardSwish, .sigmoid, .leakyRelu, .prelu, .elu, .tanh, .silu,
                 .hardSigmoid, .localResponseNorm, .pad, .mul, .maxPool, .avgPool, .globalAvgPool, .add,
                 .concat, .channelShuffle, .channelSlice, .flatten, .unflatten, .dropout, .softmax:
                return .notApplicable
            }
        }
    }

    /// `W (out x in) ≈ second · first` with `first = √Σ_r V_rᵀ` (r x in) and
    /// `second = U_r √Σ_r` (out x r).
    static func channelFactors(_ w: Matrix, rank: RankChoice) throws -> (first: Matrix, second: Matrix, rank: Int) {
        let svd = try SingularValueDecomposition(w)
        let r = rank.rank(svd.singularValues)
        var first = Matrix(zeros: r, w.columns), second = Matrix(zeros: w.rows, r)
        for l in 0..<r {
            let root = svd.singularValues[l].squareRoot()
            for j in 0..<w.columns { first[l, j] = root * svd.vt[l, j] }
            for i in 0..<w.rows { second[i, l] = root * svd.u[i, l] }
        }
        return (first, second, r)
    }

    /// Spatial SVD of `[Cout, Cin, kh, kw]`: the vertical `[r, Cin, kh, 1]` and horizontal
    /// `[Cout, r, 1, kw]` weights.
    static func spatialFactors(_ weight: Tensor, rank: RankChoice) throws -> (vertical: Tensor, horizontal: Tensor, rank: Int) {
        let s = weight.shape.dimensions
        let (cout, cin, kh, kw) = (s[0], s[1], s[2], s[3])
        let w = weight.floats
        var m = Matrix(zeros: cin * kh, cout * kw)
        for o in 0..<cout { for c in 0..<cin { for i in 0..<kh { for j in 0..<kw {
            m[c * kh + i, o * kw + j] = Double(w[((o * cin + c) * kh + i) * kw + j])
        } } } }
        let svd = try SingularValueDecomposition(m)
        let r = rank.rank(svd.singularValues)
        var vertical = [Double](repeating: 0, count: r * cin * kh)
        var horizontal = [Double](repeating: 0, count: cout * r * kw)
        for l in 0..<r {
            let root = svd.singularValues[l].squareRoot()
            for c in 0..<cin { for i in 0..<kh { vertical[(l * cin + c) * kh + i] = root * svd.u[c * kh + i, l] } }
            for o in 0..<cout { for j in 0..<kw { horizontal[(o * r + l) * kw + j] = root * svd.vt[l, o * kw + j] } }
        }
        return (Tensor.from(vertical, shape: [r, cin, kh, 1]), Tensor.from(horizontal, shape: [cout, r, 1, kw]), r)
    }
}
