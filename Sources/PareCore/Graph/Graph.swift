/// A model: nodes in topological order, named parameters, and which node outputs are the
/// model's outputs. Nothing else describes a model; every capability is a pass over this.
///
/// Parameters and buffers live in `parameters` under PyTorch state-dict names. Tensors have
/// reference semantics, so an optimizer updating a parameter in place is seen by every
/// executor running the graph.
public struct Graph: @unchecked Sendable {
    public var nodes: [Node]
    /// Indices of the nodes whose outputs the model returns.
    public var outputs: [Int]
    public var parameters: [String: Tensor]
    /// Free-form provenance (what produced the model, with which settings).
    public var metadata: [String: String]

    public init(nodes: [Node], outputs: [Int], parameters: [String: Tensor] = [:], metadata: [String: String] = [:]) {
        self.nodes = nodes
        self.outputs = outputs
        self.parameters = parameters
        self.metadata = metadata
    }

    /// Indices of the `input` nodes, in order.
    public var inputIndices: [Int] {
        nodes.indices.filter { if case .input = nodes[$0].op { return true } else { return false } }
    }

    /// Per-sample output shape of every node. Throws naming the first invalid node.
    public func inferShapes() throws -> [Shape] {
        var shapes: [Shape] = []
        shapes.reserveCapacity(nodes.count)
        for (index, node) in nodes.enumerated() {
            for input in node.inputs where input < 0 || input >= index {
                throw GraphError.invalidNode(index: index, node: node.name, op: node.op.kind,
                                             reason: "input \(input) is not an earlier node")
            }
            switch node.op.outputShape(inputs: node.inputs.map { shapes[$0] }) {
            case let .success(shape): shapes.append(shape)
            case let .failure(failure):
                throw GraphError.invalidNode(index: index, node: node.name, op: node.op.kind, reason: failure.reason)
            }
        }
        return shapes
    }

    /// Every parameter spec with its full name, in node order (state-dict order).
    public func parameterSpecs() throws -> [(name: String, node: Int, spec: ParameterSpec)] {
        let shapes = try inferShapes()
        var result: [(name: String, node: Int, spec: ParameterSpec)] = []
        for (index, node) in nodes.enumerated() {
            for spec in node.parameterSpecs(inputs: node.inputs.map { shapes[$0] }) {
                result.append((node.parameterName(spec.suffix), index, spec))
            }
        }
        return result
    }

    /// State-dict names of the trainable parameters, in order.
    public func trainableParameterNames() throws -> [String] {
        try parameterSpecs().filter { $0.spec.role.isTrainable }.map(\.name)
    }

    /// Checks structure, shapes, unique names and that every parameter exists with its shape.
    /// Throws an error naming the offending node or parameter.
    public func validate() throws {
        guard !nodes.isEmpty else { throw GraphError.invalidGraph("no nodes") }
        guard !outputs.isEmpty else { throw GraphError.invalidGraph("no outputs") }
        for output in outputs where output < 0 || output >= nodes.count {
            throw GraphError.invalidGraph("output \(output) is not a node (graph has \(nodes.count))")
        }
        var seen = Set<String>()
        for (index, node) in nodes.enumerated() {
            guard seen.insert(node.name).inserted else {
                throw GraphError.invalidNode(index: index, node: node.name, op: node.op.kind, reason: "duplicate node name")
            }
        }
        var expected = Set<String>()
        for (name, index, spec) in try parameterSpecs() {
            expected.insert(name)
            guard let tensor = parameters[name] else {
                throw GraphError.missingParameter(node: nodes[index].name, parameter: name)
            }
            guard tensor.shape == spec.shape else {
                throw GraphError.parameterShapeMismatch(parameter: name, expected: spec.shape, got: tensor.shape)
            }
            guard tensor.dtype == spec.dtype else {
                throw GraphError.invalidGraph("parameter '\(name)' has dtype \(tensor.dtype.rawValue), expected \(spec.dtype.rawValue)")
            }
        }
        let extra = Set(parameters.keys).subtracting(expected)
        if !extra.isEmpty {
            throw GraphError.invalidGraph("parameters that no node owns: \(extra.sorted().joined(separator: ", "))")
        }
    }

    /// For each node, the nodes consuming its output (one entry per use).
    public var consumers: [[Int]] {
        var result = [[Int]](repeating: [], count: nodes.count)
        for (index, node) in nodes.enumerated() {
            for input in node.inputs { result[input].append(index) }
        }
        return result
    }

    /// Total number of elements in trainable parameters.
    public func trainableParameterCount() throws -> Int {
        try parameterSpecs().filter { $0.spec.role.isTrainable }.reduce(0) { $0 + $1.spec.shape.elementCount }
    }
}
