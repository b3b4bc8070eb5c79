/// The plain executor: runs any ``Graph`` in f32 with the reference kernels, forward and
/// backward. Slow and simple on purpose; it is the oracle the fast executors are tested against.
///
/// Parameters are read from the graph's tensors at every forward pass, so in-place optimizer
/// updates take effect. In training mode every forward pass updates the batch-norm running
/// statistics and `num_batches_tracked` in the graph's tensors, and draws the dropout masks
/// from a ``SeededGenerator`` seeded with `configuration.seed` (one mask per dropout node, in
/// node order, the generator advancing from call to call).
public final class ReferenceExecutor: GraphExecutor {
    public let graph: Graph
    public let batchSize: Int
    public let mode: ExecutionMode
    public let configuration: ExecutorConfiguration
    public private(set) var parameterGradients: [String: Tensor] = [:]
    public private(set) var inputGradients: [Tensor] = []

    private let runner: ReferenceGraphRunner<Float>

    /// Validates the graph (structure, shapes, parameters) for running at `batchSize`.
    public init(graph: Graph, batchSize: Int, mode: ExecutionMode,
                configuration: ExecutorConfiguration = ExecutorConfiguration()) throws {
        try graph.validate()
        guard batchSize > 0 else { throw GraphError.invalidGraph("batch size \(batchSize) must be positive") }
        self.graph = graph
        self.batchSize = batchSize
        self.mode = mode
        self.configuration = configuration
        self.runner = try ReferenceGraphRunner<Float>(graph: graph, batchSize: batchSize, mode: mode,
                                                      parameters: [:], seed: configuration.seed)
    }

    /// Nothing to do: parameters are read at every forward pass.
    public func reloadParameters() throws {}

    public func forward(_ inputs: [Tensor]) throws -> [Tensor] {
        let inputIndices = graph.inputIndices
        guard inputs.count == inputIndices.count else {
            throw ExecutionError.wrongInputCount(expected: inputIndices.count, got: inputs.count)
        }
        for (k, index) in inputIndices.enumerated() {
            let expected = runner.shapes[index].prepending(batchSize)
            guard inputs[k].shape == expected, inputs[k].dtype == .f32 else {
                throw ExecutionError.wrongInputShape(input: graph.nodes[index].name, expected: expected, got: inputs[k].shape)
            }
        }
        runner.parameters = ReferenceGraphRunner<Float>.parameterArrays(of: graph)
        let outputs = try runner.forward(inputs.map(\.scalars))
        if mode == .training { updateBatchNormBuffers() }
        return try zip(graph.outputs, outputs).map { index, values in
            try Tensor(shape: runner.shapes[index].prepending(batchSize), values: values)
        }
    }

    /// Copies the runner's updated running statistics into the graph's tensors and counts the batch.
    private func updateBatchNormBuffers() {
        for node in graph.nodes {
            guard case .batchNorm = node.op else { continue }
            for suffix in ["running_mean", "running_var"] {
                let name = node.parameterName(suffix)
                let target = graph.parameters[name]!.floats
                for (i, value) in runner.parameters[name]!.enumerated() { target[i] = value }
            }
            let counter = graph.parameters[node.parameterName("num_batches_tracked")]!
            counter.storage.pointer.assumingMemoryBound(to: Int64.self)[0] += 1
        }
    }

    public func backward(_ outputGradients: [Tensor]) throws {
        guard outputGradients.count == graph.outputs.count else {
            throw ExecutionError.wrongInputCount(expected: graph.outputs.count, got: outputGradients.count)
        }
        for (k, index) in graph.outputs.enumerated() {
            let expected = runner.shapes[index].prepending(batchSize)
            guard outputGradients[k].shape == expected, outputGradients[k].dtype == .f32 else {
                throw ExecutionError.wrongInputShape(input: "gradient of output \(k) ('\(graph.nodes[index].name)')",
                                                     expected: expected, got: outputGradients[k].shape)
            }
        }
        let gradients = try runner.backward(outputGradients.map(\.scalars))
        var parameterGradients: [String: Tensor] = [:]
        for (name, _, spec) in try graph.parameterSpecs() where spec.role.isTrainable {
            parameterGradients[name] = try Tensor(shape: spec.shape, values: gradients.parameterGradients[name]!)
        }
        self.parameterGradients = parameterGradients
        inputGradients = configuration.computeInputGradients
            ? try zip(graph.inputIndices, gradients.inputGradients).map { index, values in
                try Tensor(shape: runner.shapes[index].prepending(batchSize), values: values)
            }
            : []
    }
}
