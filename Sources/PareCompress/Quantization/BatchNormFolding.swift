import PareCore

/// Folds every batch norm that directly follows a convolution into that convolution's
/// weights and bias, as an int8 model needs (one int8 primitive per convolution) and as
/// PyTorch's `fuse_modules` does:
/// with `s = γ / √(σ² + eps)` per output channel, `W' = W · s` and `b' = (b − μ) · s + β`.
///
/// A batch norm is folded only when the convolution's output has no other consumer and is
/// no graph output (nothing else may see the unnormalised value). The result computes the
/// same function in inference (up to rounding); it has no batch-norm statistics left, so it
/// is for inference and quantisation, not for further training.
public enum BatchNormFolding {
    /// One fold: the convolution and the batch norm that went into it.
    public struct Fold: Hashable, Sendable {
        public var convolution: String
        public var batchNorm: String
    }

    public static func fold(_ graph: Graph) throws -> (graph: Graph, folds: [Fold]) {
        let consumers = graph.consumers
        let outputs = Set(graph.outputs)
        var normOf: [Int: Int] = [:]  // convolution -> batch norm
        for (index, node) in graph.nodes.enumerated() {
            guard case .batchNorm = node.op, let producer = node.inputs.first, node.quantization == nil,
                  case .conv2d = graph.nodes[producer].op, graph.nodes[producer].quantization == nil,
                  consumers[producer] == [index], !outputs.contains(producer) else { continue }
            normOf[producer] = index
        }
        var editor = try GraphEditor(graph)
        var folds: [Fold] = []
        let foldedNorms = Set(normOf.values)
        for (index, node) in graph.nodes.enumerated() {
            if let norm = normOf[index], case var .conv2d(a) = node.op, case let .batchNorm(b) = graph.nodes[norm].op {
                let conv = editor.sourceParameters(of: index), bn = editor.sourceParameters(of: norm)
                let (weight, bias) = foldedParameters(weight: conv["weight"]!, bias: conv["bias"], gamma: bn["weight"]!,
                                                      beta: bn["bias"]!, mean: bn["running_mean"]!,
                                                      variance: bn["running_var"]!, eps: b.eps)
                a.bias = true
                try editor.keep(index, op: .conv2d(a), parameters: ["weight": weight, "bias": bias])
                folds.append(Fold(convolution: node.name, batchNorm: graph.nodes[norm].name))
            } else if foldedNorms.contains(index) {
                try editor.drop(index, forwardingTo: node.inputs[0])
            } else {
                try editor.keep(index)
            }
        }
        let result = try editor.finish()
        return (result, folds)
    }

    /// The folded weights `[O, ...]` and bias `[O]`, computed in Double.
    static func foldedParameters(weight: Tensor, bias: Tensor?, gamma: Tensor, beta: Tensor, mean: Tensor,
                                 variance: Tensor, eps: Double) -> (weight: Tensor, bias: Tensor) {
        let outChannels = weight.shape[0]
        let block = weight.elementCount / outChannels
        let newWeight = Tensor(zeros: weight.shape), newBias = Tensor(zeros: [outChannels])
        let w = weight.floats, nw = newWeight.floats, nb = newBias.floats
        let g = gamma.floats, be = beta.floats, m = mean.floats, v = variance.floats
        let b = bias?.floats
        for o in 0..<outChannels {
            let s = Double(g[o]) / (Double(v[o]) + eps).squareRoot()
            for k in (o * block)..<((o + 1) * block) { nw[k] = Float(Double(w[k]) * s) }
            nb[o] = Float((Double(b?[o] ?? 0) - Double(m[o])) * s + Double(be[o]))
        }
        return (newWeight, newBias)
    }
}
