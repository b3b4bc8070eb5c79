import PareCore

/// `tucker`: Tucker-2 decomposition of a k x k convolution (groups 1) into `NAME.reduce`
/// (1x1, Cin -> r_in), `NAME.core` (k x k, r_in -> r_out, the original stride, padding and
/// dilation) and `NAME.expand` (1x1, r_out -> Cout, the original bias).
///
/// HOSVD initialisation: `U_out` (Cout x r_out) and `U_in` (Cin x r_in) are the leading
/// left singular vectors of the mode-0 (`Cout x Cin·k²`) and mode-1 (`Cin x Cout·k²`)
/// unfoldings, the core is `W ×₀ U_outᵀ ×₁ U_inᵀ`; the layers' weights are `U_inᵀ`, the
/// core and `U_out`. Each rank is chosen on its unfolding's singular values. At full ranks
/// the output is unchanged.
public enum TuckerRewrite {
    public static let kind = "tucker"

    public static func apply(_ graph: Graph, rank: RankChoice = .standard, selection: RewriteSelection = RewriteSelection(),
                             excluded: Set<String> = [], measurement: RewriteMeasurement = RewriteMeasurement()) throws -> RewriteResult {
        try rank.check()
        return try LayerRewrite.apply(graph, kind: kind, selection: selection, excluded: excluded, measurement: measurement) { layer in
            guard case let .conv2d(a) = layer.node.op else { return .notApplicable }
            let inChannels = layer.inputShape[0]
            guard a.kernelSize[0] * a.kernelSize[1] > 1 else { return .skip("1x1 convolution: svd factors it") }
            guard a.groups == 1 else {
                return .skip(a.groups == inChannels ? "depthwise convolution" : "grouped convolution (\(a.groups) groups)")
            }
            let f = try factors(layer.parameters["weight"]!, rank: rank)
            let (rIn, rOut) = (f.reduce.shape[0], f.core.shape[0])
            let reduce = Conv2dAttributes(outChannels: rIn, kernelSize: [1, 1])
            var core = a
            core.outChannels = rOut
            core.bias = false
            let expand = Conv2dAttributes(outChannels: a.outChannels, kernelSize: [1, 1], bias: a.bias)
            let bias = layer.parameters["bias"]?.copy()
            let name = layer.node.name
            let detail = "conv \(kernelText(a)) \(inChannels)->\(a.outChannels) -> 1x1 \(inChannels)->\(rIn) + "
                + "\(kernelText(a)) \(rIn)->\(rOut) + 1x1 \(rOut)->\(a.outChannels) (\(rank))"
            return .replace(detail: detail) { editor, x in
                var y = editor.add(name + ".reduce", op: .conv2d(reduce), inputs: [x], parameters: ["weight": f.reduce.copy()])
                y = editor.add(name + ".core", op: .conv2d(core), inputs: [y], parameters: ["weight": f.core.copy()])
                var parameters = ["weight": f.expand.copy()]
                if let bias { parameters["bias"] = bias.copy() }
                return editor.add(name + ".expand", op: .conv2d(expand), inputs: [y], parameters: parameters)
            }
        }
    }

    /// HOSVD factors of `[Cout, Cin, kh, kw]`: reduce `[r_in, Cin, 1, 1]` (`U_inᵀ`), core
    /// `[r_out, r_in, kh, kw]`, expand `[Cout, r_out, 1, 1]` (`U_out`).
    public static func factors(_ weight: Tensor, rank: RankChoice) throws -> (reduce: Tensor, core: Tensor, expand: Tensor) {
        let s = weight.shape.dimensions
        let (cout, cin, k2) = (s[0], s[1], s[2] * s[3])
        let w = weight.floats
        func at(_ o: Int, _ c: Int, _ t: Int) -> Double { Double(w[(o * cin + c) * k2 + t]) }
        var mode0 = Matrix(zeros: cout, cin * k2), mode1 = Matrix(zeros: cin, cout * k2)
        for o in 0..<cout { for c in 0..<cin { for t in 0..<k2 {
            mode0[o, c * k2 + t] = at(o, c, t)
            mode1[c, o * k2 + t] = at(o, c, t)
        } } }
        let svdOut = try SingularValueDecomposition(mode0), svdIn = try SingularValueDecomposition(mode1)
        let rOut = rank.rank(svdOut.singularValues), rIn = rank.rank(svdIn.singularValues)
        // core[a, b, t] = Σ_o Σ_c U_out[o, a] U_in[c, b] W[o, c, t], as two products:
        // partial = U_outᵀ · mode0 (r_out x Cin·k²), then per a: U_inᵀ · partial[a] (Cin x k²).
        var uOutT = Matrix(zeros: rOut, cout), uInT = Matrix(zeros: rIn, cin)
        for o in 0..<cout { for a in 0..<rOut { uOutT[a, o] = svdOut.u[o, a] } }
        for c in 0..<cin { for b in 0..<rIn { uInT[b, c] = svdIn.u[c, b] } }
        let partial = uOutT.multiplied(by: mode0)
        var core = [Double]()
        core.reserveCapacity(rOut * rIn * k2)
        for a in 0..<rOut {
            let slice = Matrix(rows: cin, columns: k2, values: Array(partial.values[(a * cin * k2)..<((a + 1) * cin * k2)]))
            core += uInT.multiplied(by: slice).values
        }
        var reduce = [Double](repeating: 0, count: rIn * cin), expand = [Double](repeating: 0, count: cout * rOut)
        for b in 0..<rIn { for c in 0..<cin { reduce[b * cin + c] = uInT[b, c] } }
        for o in 0..<cout { for a in 0..<rOut { expand[o * rOut + a] = svdOut.u[o, a] } }
        return (Tensor.from(reduce, shape: [rIn, cin, 1, 1]), Tensor.from(core, shape: [rOut, rIn, s[2], s[3]]),
                Tensor.from(expand, shape: [cout, rOut, 1, 1]))
    }
}
