import PareCore

/// Writes a model as Swift code and produces a ``Graph``.
///
/// ```swift
/// var b = GraphBuilder()
/// var x = b.input([3, 32, 32])
/// x = b.conv2d(x, "conv1", outChannels: 64, kernelSize: 3, padding: 1, bias: false)
/// x = b.relu(b.batchNorm(x, "bn1"))
/// x = b.linear(b.flatten(b.globalAvgPool(x)), "fc", outFeatures: 10)
/// let graph = try b.build(outputs: [x], seed: 0)
/// ```
///
/// Each method appends one node and returns its ``Value``, whose shape is inferred on the
/// spot. Layers with parameters take their PyTorch module path as name (`layer1.0.conv1`), so
/// parameter names equal torchvision's state-dict names (`layer1.0.conv1.weight`); other
/// nodes get unique automatic names (`relu_7`).
///
/// Adding methods do not throw, to keep model code plain: the first invalid node is
/// recorded and ``build(outputs:seed:metadata:)`` throws it as a `GraphError.invalidNode` naming
/// that node. Nodes added after an error are kept but not shape-checked.
public struct GraphBuilder {
    /// The output of one node, with its inferred per-sample shape (no batch dimension).
    public struct Value: Hashable, Sendable {
        /// Index of the node in the graph.
        public let node: Int
        /// Per-sample shape, e.g. `[64, 32, 32]` (empty after an invalid node).
        public let shape: Shape
        /// The first (channel or feature) extent of ``shape``.
        public var channels: Int { shape.dimensions.first ?? 0 }
    }

    /// The nodes added so far, in order.
    public private(set) var nodes: [Node] = []
    /// The first invalid node, thrown by ``build(outputs:seed:metadata:)``.
    public private(set) var firstError: GraphError?
    private var shapes: [Shape] = []
    private var usedNames: Set<String> = []

    public init() {}

    /// Appends a node computing `op` on `inputs` and returns its output.
    ///
    /// `name` is the node's name (its parameters' state-dict prefix); `nil` gives a unique
    /// automatic name such as `relu_7`. Every other method of the builder ends here.
    public mutating func node(_ op: Op, _ inputs: [Value], name: String? = nil) -> Value {
        let index = nodes.count
        let name = name ?? automaticName(op.kind, index: index)
        nodes.append(Node(name: name, op: op, inputs: inputs.map(\.node)))
        let shape = firstError == nil ? inferShape(index: index) : Shape([])
        usedNames.insert(name)
        shapes.append(shape)
        return Value(node: index, shape: shape)
    }

    /// Checks the newest node and returns its shape, recording the first error.
    private mutating func inferShape(index: Int) -> Shape {
        let node = nodes[index]
        func fail(_ reason: String) -> Shape {
            firstError = .invalidNode(index: index, node: node.name, op: node.op.kind, reason: reason)
            return Shape([])
        }
        if usedNames.contains(node.name) { return fail("duplicate node name") }
        if node.name.isEmpty { return fail("empty node name") }
        if let input = node.inputs.first(where: { $0 < 0 || $0 >= index }) {
            return fail("input \(input) is not an earlier node of this builder")
        }
        switch node.op.outputShape(inputs: node.inputs.map { shapes[$0] }) {
        case let .success(shape): return shape
        case let .failure(failure): return fail(failure.reason)
        }
    }

    /// `kind_index`, or with a further suffix if a node already has that name.
    private func automaticName(_ kind: String, index: Int) -> String {
        var name = "\(kind)_\(index)"
        var suffix = 1
        while usedNames.contains(name) {
            name = "\(kind)_\(index)_\(suffix)"
            suffix += 1
        }
        return name
    }

    /// Builds the graph: creates every parameter as torchvision initialises it (from `seed`)
    /// and validates the result. Throws the first invalid node, naming it.
    public func build(outputs: [Value], seed: UInt64 = 0, metadata: [String: String] = [:]) throws -> Graph {
        var graph = try buildWithoutParameters(outputs: outputs, metadata: metadata)
        try graph.initializeParameters(seed: seed)
        try graph.validate()
        return graph
    }

    /// The graph's structure only, with no parameters: for loading trained weights into it
    /// (then `initializeParameters(seed:)` fills any left out), or for counting them.
    /// Throws the first invalid node, naming it.
    public func buildWithoutParameters(outputs: [Value], metadata: [String: String] = [:]) throws -> Graph {
        if let firstError { throw firstError }
        guard !outputs.isEmpty else { throw GraphError.invalidGraph("no outputs") }
        if let output = outputs.first(where: { $0.node < 0 || $0.node >= nodes.count }) {
            throw GraphError.invalidGraph("output \(output.node) is not a node of this builder")
        }
        return Graph(nodes: nodes, outputs: outputs.map(\.node), metadata: metadata)
    }
}

// MARK: - Layers

extension GraphBuilder {
    /// A graph input with per-sample shape `shape` (e.g. `[3, 224, 224]`), named `input`
    /// unless that name is taken.
    public mutating func input(_ shape: Shape, name: String? = nil) -> Value {
        let name = name ?? (usedNames.contains("input") ? nil : "input")
        return node(.input(shape: shape), [], name: name)
    }

    /// A square 2-D convolution (PyTorch `nn.Conv2d`; `bias` defaults to true as there).
    /// Depthwise: `groups: x.channels`.
    public mutating func conv2d(_ x: Value, _ name: String, outChannels: Int, kernelSize: Int, stride: Int = 1,
                                padding: Int = 0, dilation: Int = 1, groups: Int = 1, bias: Bool = true) -> Value {
        conv2d(x, name, outChannels: outChannels, kernelSize: kernelSize, stride: stride, padding: Padding2d(padding),
               dilation: dilation, groups: groups, bias: bias)
    }

    /// A square 2-D convolution with explicit, possibly asymmetric, padding.
    public mutating func conv2d(_ x: Value, _ name: String, outChannels: Int, kernelSize: Int, stride: Int = 1,
                                padding: Padding2d, dilation: Int = 1, groups: Int = 1, bias: Bool = true) -> Value {
        conv2d(x, name, Conv2dAttributes(outChannels: outChannels, kernelSize: [kernelSize, kernelSize],
                                         stride: [stride, stride], padding: padding,
                                         dilation: [dilation, dilation], groups: groups, bias: bias))
    }

    /// A 2-D convolution with full control (rectangular kernels, per-axis stride and dilation).
    public mutating func conv2d(_ x: Value, _ name: String, _ attributes: Conv2dAttributes) -> Value {
        node(.conv2d(attributes), [x], name: name)
    }

    /// Batch normalisation over channels (PyTorch `nn.BatchNorm2d`/`BatchNorm1d`).
    public mutating func batchNorm(_ x: Value, _ name: String, eps: Double = 1e-5, momentum: Double = 0.1) -> Value {
        node(.batchNorm(BatchNormAttributes(eps: eps, momentum: momentum)), [x], name: name)
    }

    /// `max(x, 0)`.
    public mutating func relu(_ x: Value) -> Value { node(.relu, [x]) }
    /// `min(max(x, 0), 6)`.
    public mutating func relu6(_ x: Value) -> Value { node(.relu6, [x]) }
    /// `x * relu6(x + 3) / 6`.
    public mutating func hardSwish(_ x: Value) -> Value { node(.hardSwish, [x]) }
    /// `1 / (1 + exp(-x))`.
    public mutating func sigmoid(_ x: Value) -> Value { node(.sigmoid, [x]) }
    /// `x` for `x > 0`, else `negativeSlope * x` (PyTorch `nn.LeakyReLU`, default slope 0.01).
    public mutating func leakyRelu(_ x: Value, negativeSlope: Double = 0.01) -> Value {
        node(.leakyRelu(negativeSlope: negativeSlope), [x])
    }
    /// PyTorch `nn.PReLU(num_parameters)`: a learned slope per channel (`perChannel`) or one
    /// shared slope, parameter `name.weight`, initialised to 0.25.
    public mutating func prelu(_ x: Value, _ name: String, perChannel: Bool = true) -> Value {
        node(.prelu(perChannel: perChannel), [x], name: name)
    }
    /// `x` for `x > 0`, else `alpha * (exp(x) - 1)` (PyTorch `nn.ELU`).
    public mutating func elu(_ x: Value, alpha: Double = 1) -> Value { node(.elu(alpha: alpha), [x]) }
    /// `tanh(x)`.
    public mutating func tanh(_ x: Value) -> Value { node(.tanh, [x]) }
    /// `x * sigmoid(x)` (PyTorch `nn.SiLU`).
    public mutating func silu(_ x: Value) -> Value { node(.silu, [x]) }
    /// `relu6(x + 3) / 6` (PyTorch `nn.Hardsigmoid`).
    public mutating func hardSigmoid(_ x: Value) -> Value { node(.hardSigmoid, [x]) }
    /// Local response normalisation across channels (PyTorch `nn.LocalResponseNorm`; odd `size`).
    public mutating func localResponseNorm(_ x: Value, size: Int, alpha: Double = 1e-4, beta: Double = 0.75,
                                           k: Double = 1) -> Value {
        node(.localResponseNorm(LRNAttributes(size: size, alpha: alpha, beta: beta, k: k)), [x])
    }
    /// Reflection or replication padding of H and W (PyTorch `nn.ReflectionPad2d`,
    /// `nn.ReplicationPad2d`; their 4-tuple is `(left, right, top, bottom)`).
    public mutating func pad(_ x: Value, _ padding: Padding2d, mode: PaddingMode) -> Value {
        node(.pad(PadAttributes(padding: padding, mode: mode)), [x])
    }
    /// `[F] -> [F, 1, 1]` (PyTorch `x.view(N, F, 1, 1)`).
    public mutating func unflatten(_ x: Value) -> Value { node(.unflatten, [x]) }
    /// `x * y`, of the same shape or `y` a `[C, 1, 1]` gate broadcast over H and W.
    public mutating func mul(_ x: Value, _ y: Value) -> Value { node(.mul, [x, y]) }

    /// Square max pooling (PyTorch `nn.MaxPool2d`; `stride` defaults to `kernelSize`).
    public mutating func maxPool(_ x: Value, kernelSize: Int, stride: Int? = nil, padding: Int = 0,
                                 ceilMode: Bool = false) -> Value {
        maxPool(x, Pool2dAttributes(kernelSize: [kernelSize, kernelSize], stride: stride.map { [$0, $0] },
                                    padding: Padding2d(padding), ceilMode: ceilMode))
    }

    /// Max pooling with full control of the window.
    public mutating func maxPool(_ x: Value, _ attributes: Pool2dAttributes) -> Value {
        node(.maxPool(attributes), [x])
    }

    /// Square average pooling (PyTorch `nn.AvgPool2d`; `stride` defaults to `kernelSize`).
    public mutating func avgPool(_ x: Value, kernelSize: Int, stride: Int? = nil, padding: Int = 0,
                                 ceilMode: Bool = false, countIncludePad: Bool = true) -> Value {
        avgPool(x, Pool2dAttributes(kernelSize: [kernelSize, kernelSize], stride: stride.map { [$0, $0] },
                                    padding: Padding2d(padding), ceilMode: ceilMode, countIncludePad: countIncludePad))
    }

    /// Average pooling with full control of the window.
    public mutating func avgPool(_ x: Value, _ attributes: Pool2dAttributes) -> Value {
        node(.avgPool(attributes), [x])
    }

    /// Mean over height and width: `[C, H, W] -> [C, 1, 1]`.
    public mutating func globalAvgPool(_ x: Value) -> Value { node(.globalAvgPool, [x]) }

    /// A fully connected layer on a flat input (PyTorch `nn.Linear`).
    public mutating func linear(_ x: Value, _ name: String, outFeatures: Int, bias: Bool = true) -> Value {
        node(.linear(LinearAttributes(outFeatures: outFeatures, bias: bias)), [x], name: name)
    }

    /// Elementwise sum of two values of the same shape (a residual connection).
    public mutating func add(_ x: Value, _ y: Value) -> Value { node(.add, [x, y]) }

    /// Concatenation along the channel axis.
    public mutating func concat(_ values: [Value]) -> Value { node(.concat, values) }

    /// ShuffleNet's channel shuffle with `groups` groups.
    public mutating func channelShuffle(_ x: Value, groups: Int) -> Value { node(.channelShuffle(groups: groups), [x]) }

    /// `[C, H, W] -> [C*H*W]`.
    public mutating func flatten(_ x: Value) -> Value { node(.flatten, [x]) }

    /// Channels `start ..< start + count` of `x`.
    public mutating func channelSlice(_ x: Value, start: Int, count: Int) -> Value {
        node(.channelSlice(start: start, count: count), [x])
    }

    /// `x.chunk(chunks, dim=1)`: equal channel slices (the channel count must divide evenly).
    public mutating func chunkChannels(_ x: Value, _ chunks: Int) -> [Value] {
        let size = x.channels / max(chunks, 1)
        return (0..<chunks).map { channelSlice(x, start: $0 * size, count: size) }
    }

    /// Zeroes elements with probability `probability` in training (PyTorch `nn.Dropout`).
    public mutating func dropout(_ x: Value, probability: Double = 0.5) -> Value { node(.dropout(p: probability), [x]) }

    /// Softmax over the features of a flat value.
    public mutating func softmax(_ x: Value) -> Value { node(.softmax, [x]) }
}

/// `prefix.name`, or `name` when the prefix is empty: the PyTorch module path of a child.
func modulePath(_ prefix: String, _ name: String) -> String {
    prefix.isEmpty ? name : prefix + "." + name
}
