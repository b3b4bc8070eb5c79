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
    x = b.prelu(b.leakyRelu(b.elu(x, alpha: 0.8), negativeSlope: 0.05), "act")
    x = b.silu(b.tanh(x))
    // A squeeze-and-excitation gate: [8, 1, 1] by a 1x1 convolution of the pooled map.
    let gate = b.hardSigmoid(b.node(.conv2d(Conv2dAttributes(outChannels: 8, kernelSize: [1, 1], bias: true)),
                                    [b.globalAvgPool(x)], name: "se"))
    x = b.mul(x, gate)
    x = b.localResponseNorm(x, size: 3, alpha: 0.5, beta: 0.6, k: 1.5)
    x = b.pad(x, Padding2d(top: 1, left: 2, bottom: 0, right: 1), mode: .reflect)                 // [8, 15, 18]
    x = b.pad(x, Padding2d(top: 0, left: 1, bottom: 2, right: 0), mode: .replicate)               // [8, 17, 19]
    let maxPooled = b.maxPool(x, kernelSize: 2, ceilMode: true)                                  // [8, 9, 10]
    let averaged = b.avgPool(x, kernelSize: 3, stride: 2, padding: 1, countIncludePad: false)    // [8, 9, 10]
    let joined = b.concat([b.sigmoid(b.add(maxPooled, averaged)), maxPooled])                    // [16, 9, 10]
    x = b.node(.conv2d(Conv2dAttributes(outChannels: 16, kernelSize: [1, 1], groups: 4)), [joined], name: "grouped")
    x = b.relu(b.channelSlice(b.channelShuffle(x, groups: 4), start: 4, count: 8))               // [8, 9, 10]
    // A gate made by a linear layer, viewed back as [8, 1, 1].
    x = b.mul(x, b.sigmoid(b.unflatten(b.linear(b.flatten(b.globalAvgPool(x)), "se_fc", outFeatures: 8))))
    x = b.dropout(b.flatten(b.globalAvgPool(x)), probability: 0.2)
    x = b.prelu(b.batchNorm(b.linear(x, "fc", outFeatures: 5), "fc_bn"), "fc_act", perChannel: false)
    let probabilities = b.node(.softmax, [x])
    var graph = try b.buildWithoutParameters(outputs: [probabilities, joined], metadata: ["model": "every-op"])
    var seen = Set<String>()
    for node in graph.nodes { seen.insert(node.op.kind) }
    for op in allOpKinds where !seen.contains(op) { throw GraphError.invalidGraph("everyOpGraph lacks \(op)") }
    try randomizeParameters(&graph, seed: seed)
    return graph
}

/// The kind of every op (`Op.kind`); update with ``Op``.
private let allOpKinds = [
    "input", "conv2d", "batchNorm", "relu", "relu6", "hardSwish", "sigmoid", "maxPool", "avgPool", "globalAvgPool",
    "linear", "add", "concat", "channelShuffle", "channelSlice", "flatten", "dropout", "softmax", "leakyRelu", "prelu",
    "elu", "tanh", "silu", "hardSigmoid", "mul", "localResponseNorm", "pad", "unflatten",
]

/// Replaces every parameter with seeded random values: weights Kaiming-uniform for their
/// fan-in (so deep models keep their activation scale), batch norms with random affine
/// parameters and running statistics (a fresh model's are the identity, which would hide a
/// wrong mapping of them). A plain generator, fast in debug builds: the parity test fills
/// hundreds of millions of parameters.
func randomizeParameters(_ graph: inout Graph, seed: UInt64) throws {
    var state = seed &* 0x9E37_79B9_7F4A_7C15 | 1
    func fill(_ tensor: Tensor, _ low: Float, _ high: Float) {
        let values = tensor.floats
        let scale = (high - low) / Float(1 << 24)
        for i in values.indices {
            state ^= state << 13
            state ^= state >> 7
            state ^= state << 17
            values[i] = low + scale * Float(state >> 40)
        }
    }
    for (name, index, spec) in try graph.parameterSpecs() {
        let tensor = Tensor(zeros: spec.shape, dtype: spec.dtype)
        var isBatchNorm = false
        if case .batchNorm = graph.nodes[index].op { isBatchNorm = true }
        switch spec.role {
        case .weight where isBatchNorm: fill(tensor, 0.5, 1)
        case .weight:
            let bound = (6 / Float(spec.shape.elementCount / spec.shape[0])).squareRoot()
            fill(tensor, -bound, bound)
        case .bias: fill(tensor, -0.2, 0.2)
        case .slope: fill(tensor, -0.5, 0.5)
        case .runningMean: fill(tensor, -0.5, 0.5)
        case .runningVariance: fill(tensor, 1, 2)
        case .batchCount, .quantizedWeight, .weightScale: break
        }
        graph.parameters[name] = tensor
    }
}
