import PareCore

/// A model's layers, parameters, memory and work, as torchsummary and thop print them.
///
/// One pass over a ``Graph``'s structure: parameters are counted from the graph's parameter
/// specs, so a graph built without parameters (a structure-only zoo build) summarises the same
/// as a trained one.
///
/// Sizes follow torchsummary's definitions, in its "MB" (2^20 bytes), 4 bytes per element:
/// - input size: the elements of every graph input times the batch;
/// - forward/backward pass size: twice (values and gradients) the output elements of every
///   layer times the batch. torchsummary adds up the outputs of every module call; Pare the
///   outputs of every node except inputs and the views `flatten` and `channelSlice` (PyTorch's
///   `torch.flatten`/`x.view` and `x.chunk` share their input's memory, and are functions
///   torchsummary does not see). So an op that PyTorch code calls as a function (`torch.add`)
///   has no entry there and a node here, and a container module with a `forward` of its own
///   (a `ResidualBlock`) has an entry there and none here; for a block that ends
///   `relu(out + shortcut)` the two agree (Pare's `add` stands for the block);
/// - parameter size: the parameters (weights and biases, not buffers) times 4 bytes;
/// - estimated total size: the sum of the three.
///
/// Work is counted per node by ``Op/operationCount(inputs:output:)`` for the whole batch.
public struct ModelSummary: Encodable, Sendable, Equatable {
    /// One node of the graph (inputs excluded).
    public struct Layer: Encodable, Sendable, Equatable {
        /// The node's name: the PyTorch module path for layers with parameters.
        public var name: String
        /// The op's kind (``Op/kind``).
        public var op: String
        /// Per-sample output shape; printed with a leading -1 as torchsummary does.
        public var outputShape: [Int]
        /// Elements of the trainable parameters (weights, biases): torchsummary's "Param #".
        public var parameters: Int
        /// Elements of the buffers (batch norm's running statistics and batch count).
        public var buffers: Int
        /// Work of the node for the whole batch.
        public var operations: OperationCount
        /// How the node is stored and run: "f32", or in an int8 model "int8" with the weight
        /// bits and the output's type ("int8 w7 -> u8"; "-> f32" for logits written in f32,
        /// "fused" for an output computed inside the previous node's primitive).
        public var precision: String
    }

    /// Whether any node is quantised (an int8 model).
    public var isQuantized: Bool { layers.contains { $0.precision != "f32" } }

    /// The batch the sizes and operation counts are for.
    public var batch: Int
    /// Per-sample shape of each graph input.
    public var inputShapes: [[Int]]
    public var layers: [Layer]

    /// torchsummary's "Total params": weights and biases.
    public var totalParameters: Int
    /// Parameters the optimizer trains (every Pare parameter is).
    public var trainableParameters: Int
    /// `totalParameters - trainableParameters`, as torchsummary prints it.
    public var nonTrainableParameters: Int
    /// Buffer elements, which torchsummary leaves out of its counts (they are in the state dict).
    public var bufferElements: Int

    /// torchsummary's "Input size (MB)".
    public var inputMegabytes: Double
    /// torchsummary's "Forward/backward pass size (MB)" (outputs of every node but inputs and views).
    public var forwardBackwardMegabytes: Double
    /// torchsummary's "Params size (MB)".
    public var parameterMegabytes: Double
    /// torchsummary's "Estimated Total Size (MB)": the sum of the three above.
    public var estimatedTotalMegabytes: Double

    /// Totals over all layers for the whole batch.
    public var operations: OperationCount
    /// `2 * operations.macs`: floating-point operations of the conv and linear layers.
    public var flops: Int
    /// thop's count per op kind (kinds that count nothing left out), to show what it is made of.
    public var thopByOp: [String: Int]

    /// Size in bytes of the model's native `.safetensors` file, when the caller knows it.
    public var nativeFileBytes: Int?

    /// What each total counts, in words, keyed `macs`, `thop` and `memory`.
    public var countingRules: [String: String] = ModelSummary.standardCountingRules

    /// What each total counts: printed under the table and written in the JSON.
    public static let standardCountingRules = [
        "macs": OperationCount.macsRule,
        "thop": OperationCount.thopRule,
        "memory": "torchsummary's definitions, MB = 2^20 bytes, 4 bytes per element; forward/backward "
            + "counts the outputs of every node except inputs, flatten and channelSlice (views in PyTorch); "
            + "torchsummary counts those of every module call",
    ]

    /// Summarises `graph` for a batch of `batch` samples. `nativeFileBytes` is passed through
    /// (PareIO computes it: `ModelFile.encodedByteCount(graph)`). Throws if the graph's shapes
    /// do not infer.
    public init(graph: Graph, batch: Int = 1, nativeFileBytes: Int? = nil) throws {
        precondition(batch > 0, "batch must be positive")
        let shapes = try graph.inferShapes()
        var parameterCounts = [Int](repeating: 0, count: graph.nodes.count)
        var bufferCounts = [Int](repeating: 0, count: graph.nodes.count)
        for (_, node, spec) in try graph.parameterSpecs() {
            // An int8 model's 8-bit weights are still its parameters; their scales are buffers.
            if spec.role.isTrainable || spec.role == .quantizedWeight {
                parameterCounts[node] += spec.shape.elementCount
            } else {
                bufferCounts[node] += spec.shape.elementCount
            }
        }

        var layers: [Layer] = []
        var inputShapes: [[Int]] = []
        var outputElements = 0
        var total = OperationCount.zero
        var thopByOp: [String: Int] = [:]
        for (index, node) in graph.nodes.enumerated() {
            if case .input = node.op {
                inputShapes.append(shapes[index].dimensions)
                continue
            }
            let perSample = node.op.operationCount(inputs: node.inputs.map { shapes[$0] }, output: shapes[index])
            let operations = OperationCount(macs: perSample.macs * batch, thop: perSample.thop * batch)
            layers.append(Layer(name: node.name, op: node.op.kind, outputShape: shapes[index].dimensions,
                                parameters: parameterCounts[index], buffers: bufferCounts[index],
                                operations: operations, precision: ModelSummary.precision(of: node)))
            if ModelSummary.hasOwnActivation(node.op) { outputElements += shapes[index].elementCount }
            total.macs += operations.macs
            total.thop += operations.thop
            if operations.thop != 0 { thopByOp[node.op.kind, default: 0] += operations.thop }
        }

        self.batch = batch
        self.inputShapes = inputShapes
        self.layers = layers
        totalParameters = parameterCounts.reduce(0, +)
        trainableParameters = totalParameters
        bufferElements = bufferCounts.reduce(0, +)
        let inputElements = inputShapes.reduce(0) { $0 + Shape($1).elementCount }
        inputMegabytes = ModelSummary.megabytes(elements: inputElements * batch)
        forwardBackwardMegabytes = ModelSummary.megabytes(elements: 2 * outputElements * batch)
        parameterMegabytes = ModelSummary.megabytes(elements: totalParameters)
        estimatedTotalMegabytes = inputMegabytes + forwardBackwardMegabytes + parameterMegabytes
        nonTrainableParameters = totalParameters - trainableParameters
        operations = total
        flops = 2 * total.macs
        self.thopByOp = thopByOp
        self.nativeFileBytes = nativeFileBytes
    }

    /// Whether the forward/backward size counts the node's output: every op's but the inputs'
    /// and the views' (`flatten`, `channelSlice`), which own no memory in PyTorch.
    public static func hasOwnActivation(_ op: Op) -> Bool {
        switch op {
        case .input, .flatten, .unflatten, .channelSlice:
            return false
        case .conv2d, .batchNorm, .relu, .relu6, .hardSwish, .sigmoid, .leakyRelu, .prelu, .elu, .tanh, .silu,
             .hardSigmoid, .localResponseNorm, .pad, .maxPool, .avgPool, .globalAvgPool, .linear, .add, .mul, .concat, .channelShuffle, .dropout,
             .softmax:
            return true
        }
    }

    static func precision(of node: Node) -> String {
        guard let q = node.quantization else { return "f32" }
        var text = "int8"
        if let weights = q.weights { text += " w\(weights.bits)" }
        if let output = q.output { text += " -> \(output.dtype.rawValue)" } else { text += q.weights != nil ? " -> f32/fused" : " (fused)" }
        return text
    }

    /// torchsummary's megabytes: 4-byte elements, 2^20 bytes per MB.
    public static func megabytes(elements: Int) -> Double {
        Double(elements) * 4 / (1024 * 1024)
    }
}
