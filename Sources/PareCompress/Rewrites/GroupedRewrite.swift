import PareCore

/// `grouped`: a convolution (groups 1, Cin and Cout divisible by g) becomes `NAME.grouped`,
/// the same convolution with g groups, followed by `NAME.shuffle`, a
/// `channelShuffle(groups: g)` that puts every output channel where the original's was.
///
/// Initialisation keeps the block diagonal of the original weight in that arrangement:
/// original output channel `o = i·g + j` (i < Cout/g) is computed by group j, so grouped
/// output position `j·(Cout/g) + i` gets `W[o, inputs of group j]` (input channels
/// `j·Cin/g ..< (j+1)·Cin/g`); the shuffle (view `[g, Cout/g]`, transposed) moves position
/// `j·(Cout/g) + i` to `i·g + j = o`. The new layer computes the original with the
/// off-diagonal blocks dropped.
///
/// Each shuffle is then moved past the batch norm and activation that follow it
/// (``ShuffleSinking``), so that an inference executor folds them into the grouped
/// convolution: `conv → bn → relu` becomes `grouped → bn' → relu → shuffle` (unless
/// `sinkShuffles` is false: `grouped → shuffle → bn → relu`, the same function).
public enum GroupedRewrite {
    public static let kind = "grouped"

    public static func apply(_ graph: Graph, groups: Int, selection: RewriteSelection = RewriteSelection(),
                             excluded: Set<String> = [], measurement: RewriteMeasurement = RewriteMeasurement(),
                             sinkShuffles: Bool = true) throws -> RewriteResult {
        guard groups >= 2 else { throw RewriteError.invalidSettings("grouped: groups must be at least 2, got \(groups)") }
        var result = try LayerRewrite.apply(graph, kind: kind, selection: selection, excluded: excluded, measurement: measurement) { layer in
            guard case let .conv2d(a) = layer.node.op else { return .notApplicable }
            let inChannels = layer.inputShape[0]
            guard a.groups == 1 else {
                return .skip(a.groups == inChannels ? "depthwise convolution" : "grouped convolution (\(a.groups) groups)")
            }
            guard inChannels % groups == 0, a.outChannels % groups == 0 else {
                return .skip("\(inChannels) input and \(a.outChannels) output channels are not both divisible by \(groups)")
            }
            let weight = blockDiagonal(layer.parameters["weight"]!, groups: groups)
            let bias = layer.parameters["bias"].map { shuffledBias($0, groups: groups) }
            var grouped = a
            grouped.groups = groups
            let name = layer.node.name
            let detail = "conv \(kernelText(a)) \(inChannels)->\(a.outChannels) -> \(groups) groups + shuffle"
            return .replace(detail: detail) { editor, x in
                var parameters = ["weight": weight.copy()]
                if let bias { parameters["bias"] = bias.copy() }
                let y = editor.add(name + ".grouped", op: .conv2d(grouped), inputs: [x], parameters: parameters)
                return editor.add(name + ".shuffle", op: .channelShuffle(groups: groups), inputs: [y])
            }
        }
        if sinkShuffles { result.graph = try ShuffleSinking.apply(result.graph).graph }
        return result
    }

    /// The grouped weight `[Cout, Cin/g, kh, kw]`: row `j·(Cout/g) + i` is
    /// `W[i·g + j, j·Cin/g ..< (j+1)·Cin/g]`.
    public static func blockDiagonal(_ weight: Tensor, groups g: Int) -> Tensor {
        let s = weight.shape.dimensions
        let (cout, cin, k2) = (s[0], s[1], s[2] * s[3])
        let (co, ci) = (cout / g, cin / g)
        let result = Tensor(zeros: [cout, ci, s[2], s[3]])
        let w = weight.floats, out = result.floats
        for j in 0..<g { for i in 0..<co {
            let original = i * g + j, position = j * co + i
            for c in 0..<ci { for t in 0..<k2 {
                out[(position * ci + c) * k2 + t] = w[(original * cin + j * ci + c) * k2 + t]
            } }
        } }
        return result
    }

    /// The bias in grouped-output order: position `j·(Cout/g) + i` gets `b[i·g + j]`.
    static func shuffledBias(_ bias: Tensor, groups g: Int) -> Tensor {
        let cout = bias.elementCount, co = cout / g
        let result = Tensor(zeros: [cout])
        for j in 0..<g { for i in 0..<co { result.floats[j * co + i] = bias.floats[i * g + j] } }
        return result
    }
}
