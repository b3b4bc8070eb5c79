import PareCore

/// Builds a new ``Graph`` from an old one, node by node, so that no compression pass
/// renumbers node indices by hand.
///
/// A pass walks the old graph's nodes in order and says, for each, what becomes of it:
///
/// ```swift
/// var editor = try GraphEditor(graph)
/// for index in graph.nodes.indices {
///     switch graph.nodes[index].op {
///     case .dropout: editor.drop(index, forwardingTo: graph.nodes[index].inputs[0])  // consumers read its input
///     case .conv2d: try editor.keep(index, op: newOp, parameters: ["weight": sliced])      // same name, new op
///     default: try editor.keep(index)                                                     // copied as it is
///     }
/// }
/// let result = try editor.finish()   // outputs remapped, validated
/// ```
///
/// `replace` puts a small subgraph in a node's place (its nodes are added with
/// ``add(_:op:inputs:parameters:)`` and the last one stands for the old node), `insert` adds
/// nodes between kept ones. Inputs of kept nodes are old indices and are mapped; inputs of
/// added nodes are ``Value``s (new indices), which ``value(of:)`` gives for an old node already
/// placed. Parameters travel by state-dict name (`node.name + "." + suffix`); a node kept as it
/// is carries its own, a node given new parameters gets exactly those. The old graph is
/// never changed (kept parameters share storage with it: copy a tensor before writing to it).
public struct GraphEditor {
    /// A node output of the graph being built (a new index).
    public struct Value: Hashable, Sendable {
        public let index: Int
    }

    /// The graph being edited.
    public let source: Graph
    /// The new graph's nodes so far.
    public private(set) var nodes: [Node] = []
    /// The new graph's parameters so far, by state-dict name.
    public private(set) var parameters: [String: Tensor] = [:]
    /// For each old node, the new node that stands for its output (nil: not placed yet, or
    /// dropped without a replacement).
    public private(set) var mapping: [Int?]
    private let sourceShapes: [Shape]
    private let ownedParameters: [[(suffix: String, name: String)]]

    public init(_ graph: Graph) throws {
        source = graph
        let shapes = try graph.inferShapes()
        sourceShapes = shapes
        mapping = Array(repeating: nil, count: graph.nodes.count)
        var owned = [[(suffix: String, name: String)]](repeating: [], count: graph.nodes.count)
        for (index, node) in graph.nodes.enumerated() {
            owned[index] = node.parameterSpecs(inputs: node.inputs.map { shapes[$0] })
                .map { ($0.suffix, node.parameterName($0.suffix)) }
        }
        ownedParameters = owned
    }

    /// Per-sample output shape of old node `index`.
    public func sourceShape(_ index: Int) -> Shape { sourceShapes[index] }

    /// The new node standing for old node `index`'s output. Throws when it has not been placed.
    public func value(of index: Int) throws -> Value {
        guard index >= 0, index < mapping.count, let mapped = mapping[index] else {
            let name = index >= 0 && index < source.nodes.count ? "'\(source.nodes[index].name)'" : "#\(index)"
            throw GraphError.invalidGraph("graph editor: node \(name) is used before it is placed (or was dropped)")
        }
        return Value(index: mapped)
    }

    /// Old node `index`'s parameters by suffix (`weight`, `bias`, ...).
    public func sourceParameters(of index: Int) -> [String: Tensor] {
        var result: [String: Tensor] = [:]
        for (suffix, name) in ownedParameters[index] { result[suffix] = source.parameters[name] }
        return result
    }

    /// Copies old node `index` as it is: same name, op and parameters, inputs mapped.
    public mutating func keep(_ index: Int) throws {
        try keep(index, op: source.nodes[index].op, parameters: sourceParameters(of: index))
    }

    /// Keeps old node `index` under its name with a new op and new parameters (by suffix);
    /// its inputs are mapped.
    public mutating func keep(_ index: Int, op: Op, parameters: [String: Tensor]) throws {
        let node = source.nodes[index]
        let inputs = try node.inputs.map { try value(of: $0) }
        mapping[index] = add(node.name, op: op, inputs: inputs, parameters: parameters).index
    }

    /// Leaves old node `index` out; its consumers read old node `replacement`'s output instead
    /// (a dropout removed, a batch norm folded into the convolution before it).
    public mutating func drop(_ index: Int, forwardingTo replacement: Int) throws {
        mapping[index] = try value(of: replacement).index
    }

    /// Puts the subgraph `build` adds in old node `index`'s place; `build` gets the node's
    /// mapped inputs and returns the value that stands for its output.
    public mutating func replace(_ index: Int, with build: (inout GraphEditor, [Value]) throws -> Value) throws {
        let inputs = try source.nodes[index].inputs.map { try value(of: $0) }
        let output = try build(&self, inputs)
        mapping[index] = output.index
    }

    /// Appends a new node reading `inputs` (new values), with `parameters` by suffix, and
    /// returns its output. Names must stay unique (``finish(metadata:)`` checks).
    @discardableResult
    public mutating func add(_ name: String, op: Op, inputs: [Value], parameters: [String: Tensor] = [:]) -> Value {
        let node = Node(name: name, op: op, inputs: inputs.map(\.index))
        for (suffix, tensor) in parameters { self.parameters[node.parameterName(suffix)] = tensor }
        nodes.append(node)
        return Value(index: nodes.count - 1)
    }

    /// Inserts a new node after old node `index` has been placed, so that the old node's later
    /// consumers read the new node instead (an observer, a fake-quant node, an adapter).
    /// `build` gets the old node's current value.
    public mutating func insert(after index: Int, _ build: (inout GraphEditor, Value) throws -> Value) throws {
        let current = try value(of: index)
        mapping[index] = try build(&self, current).index
    }

    /// The new graph: outputs mapped from the old ones, metadata kept (with `metadata`
    /// added), validated (shapes, unique names, every parameter present with its shape).
    public func finish(metadata: [String: String] = [:]) throws -> Graph {
        try finish(outputs: try source.outputs.map { try value(of: $0) }, metadata: metadata)
    }

    /// The new graph with `outputs` (new values) as its outputs instead of the old ones mapped
    /// (an adapter output added for training, or taken away again); otherwise as ``finish(metadata:)``.
    public func finish(outputs: [Value], metadata: [String: String] = [:]) throws -> Graph {
        let graph = Graph(nodes: nodes, outputs: outputs.map(\.index), parameters: parameters,
                          metadata: source.metadata.merging(metadata) { $1 })
        try graph.validate()
        return graph
    }
}
