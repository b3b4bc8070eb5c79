import PareCore
import PareModels

/// A small graph that uses every ``Op`` (it throws if one of `allOpKinds` is missing), with windows that exercise the exporter's
/// attributes: asymmetric conv padding with dilation, a ceil-mode max pool, an average pool
/// that leaves padding out of its divisor, and two outputs.
func everyOpGraph(seed: UInt64 = 0) throws -> Graph {
    var b = GraphBuilder()
    var x = b.input([3, 16, 16])
    x = b.node(.conv2d(Conv2dAttributes(outChannels: 8, kernelSize: [3, 3], padding: Padding2d(top: 1, left: 0, bottom: 1, right: 2),
                                        dilation: [2, 1], bias: true)), [x], name: "conv")         // [8, 14, 15]
    x = b.hardSwish(b.relu6(b.batchNorm(x, "bn")))
    let maxPooled = b.maxPool(x, kernelSize: 2, ceilMode: true)                                  // [8, 7, 8]
    let averaged = b.avgPool(x, kernelSize: 3, stride: 2, padding: 1, countIncludePad: false)    // [8, 7, 8]
    let joined = b.concat([b.sigmoid(b.add(maxPooled, averaged)), maxPooled])                    // [16, 7, 8]
    x = b.node(.conv2d(Conv2dAttributes(outChannels: 16, kernelSize: [1, 1], groups: 4)), [joined], name: "grouped")
    x = b.relu(b.channelSlice(b.channelShuffle(x, groups: 4), start: 4, count: 8))               // [8, 7, 8]
    x = b.dropout(b.flatten(b.globalAvgPool(x)), probability: 0.2)
    x = b.batchNorm(b.linear(x, "fc", outFeatures: 5), "fc_bn")
    let probabilities = b.node(.softmax, [x])
    var graph = try b.build(outputs: [probabilities, joined], seed: seed, metadata: ["model": "every-op"])
    var seen = Set<String>()
    for node in graph.nodes { seen.insert(node.op.kind) }
    for op in allOpKinds where !seen.contains(op) { throw GraphError.invalidGraph("everyOpGraph lacks \(op)") }
    randomizeBatchNorm(&graph, seed: seed)
    return graph
}

/// The kind of every op (`Op.kind`); update with ``Op``.
private let allOpKinds = [
    "input", "conv2d", "batchNorm", "relu", "relu6", "hardSwish", "sigmoid", "maxPool", "avgPool", "globalAvgPool",
    "linear", "add", "concat", "channelShuffle", "channelSlice", "flatten", "dropout", "softmax",
]

/// Gives every batch norm random affine parameters and running statistics (a fresh model's
/// are the identity, which would hide a wrong mapping of them).
func randomizeBatchNorm(_ graph: inout Graph, seed: UInt64) {
    var generator = SeededGenerator(seed: seed &+ 0x5eed)
    func uniform(_ low: Float, _ high: Float) -> Float {
        low + (high - low) * Float(generator.next() >> 40) / Float(1 << 24)
    }
    for node in graph.nodes {
        guard case .batchNorm = node.op else { continue }
        for (suffix, low, high) in [("weight", Float(0.5), Float(1.5)), ("bias", -0.5, 0.5),
                                    ("running_mean", -0.5, 0.5), ("running_var", 0.5, 2)] {
            let values = graph.parameters[node.parameterName(suffix)]!.floats
            for i in values.indices { values[i] = uniform(low, high) }
        }
    }
}
