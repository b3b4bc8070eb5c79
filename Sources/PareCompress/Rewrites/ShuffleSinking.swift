import PareCore

/// Moves each channel shuffle after the per-channel nodes that follow it, so that a batch
/// norm and an activation sit directly after the convolution again and an inference
/// executor folds them into it.
///
/// `grouped` puts a shuffle right after the grouped convolution, between it and its batch
/// norm: `conv → shuffle → bn → relu`. No executor folds a batch norm across a shuffle, so at
/// inference the batch norm and the ReLU would run on their own (in a rewritten resnet20 at
/// batch 1 that was 35% of the time). Since a permutation of channels commutes with every
/// per-channel operation, the same function is `conv → bn' → relu → shuffle`, with `bn'`'s
/// per-channel tensors permuted by the shuffle's inverse: `bn'[src(o)] = bn[o]`, where output
/// channel `o` of the shuffle reads input channel `src(o)`. Batch statistics in training are
/// per channel too, so the graphs also train alike.
///
/// A shuffle moves past its output's sole consumer while that consumer is a batch norm or an
/// elementwise activation (relu, relu6, hardSwish, hardSigmoid, sigmoid, leakyRelu, elu, tanh,
/// silu) or a dropout; it keeps its name and groups. Nothing else changes.
public enum ShuffleSinking {
    /// The graph with its shuffles moved down, and how many shuffles moved.
    public static func apply(_ graph: Graph) throws -> (graph: Graph, moved: Int) {
        let nodes = graph.nodes
        var consumers = [[Int]](repeating: [], count: nodes.count)
        for (c, node) in nodes.enumerated() { for s in node.inputs { consumers[s].append(c) } }
        let outputs = Set(graph.outputs)
        /// The sole consumer of old node `i`, when it is one the shuffle can move past.
        func commutingConsumer(_ i: Int) -> Int? {
            guard !outputs.contains(i), consumers[i].count == 1 else { return nil }
            let c = consumers[i][0]
            return commutes(nodes[c].op) && nodes[c].inputs == [i] ? c : nil
        }

        var editor = try GraphEditor(graph)
        /// Old node → the shuffle (old index) that its new node still owes its consumers.
        var owed: [Int: Int] = [:]
        var moved = Set<Int>()
        for (index, node) in nodes.enumerated() {
            if case .channelShuffle = node.op, commutingConsumer(index) != nil {
                // Left out for now: its consumer reads the unshuffled input and takes the shuffle on.
                try editor.drop(index, forwardingTo: node.inputs[0])
                owed[index] = index
                moved.insert(index)
                continue
            }
            guard node.inputs.count == 1, let shuffle = owed[node.inputs[0]] else {
                try editor.keep(index)
                continue
            }
            guard case let .channelShuffle(groups) = nodes[shuffle].op else { preconditionFailure("owed node is a shuffle") }
            let parameters = editor.sourceParameters(of: index).mapValues { tensor in
                tensor.elementCount == editor.sourceShape(index)[0] ? permutedToShuffleInput(tensor, groups: groups) : tensor.copy()
            }
            try editor.replace(index) { e, inputs in
                let unshuffled = e.add(node.name, op: node.op, inputs: inputs, parameters: parameters)
                if commutingConsumer(index) != nil { return unshuffled }
                return e.add(nodes[shuffle].name, op: nodes[shuffle].op, inputs: [unshuffled])
            }
            if commutingConsumer(index) != nil { owed[index] = shuffle }
        }
        return (try editor.finish(), moved.count)
    }

    /// Whether a channel permutation commutes with `op` (per-channel tensors permuted along).
    static func commutes(_ op: Op) -> Bool {
        switch op {
        case .batchNorm, .relu, .relu6, .hardSwish, .hardSigmoid, .sigmoid, .leakyRelu, .elu, .tanh, .silu, .dropout:
            return true
        case .input, .conv2d, .prelu, .localResponseNorm, .pad, .maxPool, .avgPool, .globalAvgPool, .linear, .add, .mul,
             .concat, .channelShuffle, .channelSlice, .flatten, .unflatten, .softmax:
            return false
        }
    }

    /// A per-channel tensor `t` (indexed by the shuffle's output channel) re-indexed by the
    /// shuffle's input channel: position `j·(C/g) + i` gets `t[i·g + j]`, since shuffle output
    /// `i·g + j` reads input `j·(C/g) + i`.
    static func permutedToShuffleInput(_ tensor: Tensor, groups: Int) -> Tensor {
        GroupedRewrite.shuffledBias(tensor, groups: groups)
    }
}
