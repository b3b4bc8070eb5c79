import PareCore

/// Applies a ``PruningPlan``: a new, physically smaller ``Graph`` whose parameters are
/// sliced copies of the old ones. The old graph is untouched.
///
/// Each node keeps the channels of its output that no removed unit holds, in their order;
/// per op (one exhaustive switch):
/// - convolution: weight rows of the kept output channels, columns of the kept input
///   channels (for a grouped convolution the kept positions within a group; for a depthwise
///   one the groups become the kept channel count), bias rows;
/// - batch norm: weight, bias, running mean and variance of the kept channels;
/// - linear: rows of the kept outputs, columns of the kept input features;
/// - per-channel PReLU: the slopes of the kept channels;
/// - channel slice: its window moves and narrows to the kept channels inside it;
/// - every other op has no parameters and its shape is inferred anew.
public enum ChannelSurgery {
    /// The pruned graph. Throws when the plan does not fit the graph or would leave a node
    /// with no channels.
    public static func apply(_ plan: PruningPlan, to graph: Graph) throws -> Graph {
        try apply(plan, analysis: ChannelAnalysis(graph))
    }

    public static func apply(_ plan: PruningPlan, analysis: ChannelAnalysis) throws -> Graph {
        try plan.check(against: analysis)
        let graph = analysis.graph
        let kept = analysis.keptChannels(removing: removals(plan))
        if let empty = graph.nodes.indices.first(where: { kept[$0].isEmpty }) {
            throw PruningError.emptyNode(node: graph.nodes[empty].name)
        }
        var editor = try GraphEditor(graph)
        for (index, node) in graph.nodes.enumerated() {
            let out = kept[index]
            let whole = out.count == analysis.extents[index]
            let input = node.inputs.first
            let keptIn = input.map { kept[$0] } ?? []
            let inputWhole = input.map { keptIn.count == analysis.extents[$0] } ?? true
            if whole && inputWhole {
                // Copies, so that training the pruned graph never writes into the original.
                try editor.keep(index, op: node.op, parameters: editor.sourceParameters(of: index).mapValues { $0.copy() })
                continue
            }
            let p = editor.sourceParameters(of: index)
            switch node.op {
            case .input:
                try editor.keep(index)
            case var .conv2d(a):
                let inChannels = analysis.extents[input!]
                var weight: Tensor
                if ChannelAnalysis.isDepthwise(a, inputChannels: inChannels) {
                    weight = try p["weight"]!.selecting(out, axis: 0)
                    a.groups = keptIn.count
                } else if a.groups > 1 {
                    let width = inChannels / a.groups
                    let positions = keptIn.filter { $0 < width }
                    guard positions.count * a.groups == keptIn.count else {
                        throw PruningError.planMismatch("grouped convolution '\(node.name)' would get groups of unequal width")
                    }
                    weight = try p["weight"]!.selecting([0: out, 1: positions])
                } else {
                    weight = try p["weight"]!.selecting([0: out, 1: keptIn])
                }
                a.outChannels = out.count
                var parameters = ["weight": weight]
                if let bias = p["bias"] { parameters["bias"] = try bias.selecting(out, axis: 0) }
                try editor.keep(index, op: .conv2d(a), parameters: parameters)
            case .batchNorm:
                var parameters: [String: Tensor] = [:]
                for (suffix, tensor) in p {
                    parameters[suffix] = tensor.shape.rank == 1 ? try tensor.selecting(out, axis: 0) : tensor.copy()
                }
                try editor.keep(index, op: node.op, parameters: parameters)
            case var .linear(a):
                a.outFeatures = out.count
                var parameters = ["weight": try p["weight"]!.selecting([0: out, 1: keptIn])]
                if let bias = p["bias"] { parameters["bias"] = try bias.selecting(out, axis: 0) }
                try editor.keep(index, op: .linear(a), parameters: parameters)
            case let .channelSlice(start, count):
                let newStart = keptIn.filter { $0 < start }.count
                let newCount = keptIn.filter { $0 >= start && $0 < start + count }.count
                try editor.keep(index, op: .channelSlice(start: newStart, count: newCount), parameters: [:])
            case let .prelu(perChannel):
                let weight = perChannel ? try p["weight"]!.selecting(out, axis: 0) : p["weight"]!.copy()
                try editor.keep(index, op: node.op, parameters: ["weight": weight])
            case .relu, .relu6, .hardSwish, .sigmoid, .leakyRelu, .elu, .tanh, .silu, .hardSigmoid, .localResponseNorm, .pad,
                 .maxPool, .avgPool, .globalAvgPool, .add, .mul, .concat, .channelShuffle, .flatten, .unflatten, .dropout,
                 .softmax:
                try editor.keep(index)
            }
        }
        return try editor.finish()
    }

    /// The original graph with the removed units' producers zeroed instead of cut:
    /// convolution and linear rows (weight and bias) and batch-norm weight and bias. In
    /// evaluation mode its outputs equal the pruned graph's (the invariant surgery is tested
    /// against), for graphs whose activations map 0 to 0.
    public static func masking(_ plan: PruningPlan, in graph: Graph) throws -> Graph {
        let analysis = try ChannelAnalysis(graph)
        try plan.check(against: analysis)
        let kept = analysis.keptChannels(removing: removals(plan))
        var masked = graph
        masked.parameters = graph.parameters.mapValues { $0.copy() }
        for (index, node) in graph.nodes.enumerated() {
            let removed = Set(0..<analysis.extents[index]).subtracting(kept[index])
            guard !removed.isEmpty else { continue }
            let suffixes: [String]
            switch node.op {
            case .conv2d, .linear: suffixes = ["weight", "bias"]
            case .batchNorm: suffixes = ["weight", "bias"]
            case .input, .relu, .relu6, .hardSwish, .sigmoid, .leakyRelu, .prelu, .elu, .tanh, .silu, .hardSigmoid,
                 .localResponseNorm, .pad, .maxPool, .avgPool, .globalAvgPool, .add, .mul, .concat, .channelShuffle,
                 .channelSlice, .flatten, .unflatten, .dropout, .softmax:
                suffixes = []
            }
            for suffix in suffixes {
                guard let tensor = masked.parameters[node.parameterName(suffix)] else { continue }
                let row = tensor.elementCount / tensor.shape[0]
                let values = tensor.floats.baseAddress!
                for c in removed { (values + c * row).update(repeating: 0, count: row) }
            }
        }
        return masked
    }

    /// The plan's removals by group.
    static func removals(_ plan: PruningPlan) -> [Int: Set<Int>] {
        Dictionary(plan.entries.map { ($0.group, Set($0.removed)) }, uniquingKeysWith: { $0.union($1) })
    }
}
