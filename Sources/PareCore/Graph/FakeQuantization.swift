/// Where a quantisation-aware training run rounds values as its int8 model will: the
/// convolutions and linear layers whose weights are fake-quantised per output channel, and the
/// nodes whose outputs are fake-quantised per tensor (the points that post-training
/// quantisation stores in 8 bits). A run's `TrainingConfiguration` holds it: it names nodes,
/// holds no tensors, and stays the same for the whole run (the ranges are ``FakeQuantization``'s).
public struct FakeQuantizationPlan: Codable, Hashable, Sendable {
    /// A convolution or linear layer whose weights the forward pass reads fake-quantised:
    /// symmetric per output channel at `bits` (``WeightQuantization``), the scale the largest
    /// magnitude of the channel's current f32 weights.
    public struct Weights: Codable, Hashable, Sendable {
        public var node: String
        public var bits: Int

        public init(node: String, bits: Int) {
            self.node = node
            self.bits = bits
        }
    }

    /// A node whose output is fake-quantised per tensor, symmetric (zero point 0).
    public struct Activation: Codable, Hashable, Sendable {
        public var node: String
        /// Stored as `u8` (never negative) rather than `i8`.
        public var unsigned: Bool
        /// `nil`: the node has its own range, a moving average of its batch extremes. Otherwise
        /// the node whose range sets this one's scale (pooling and the other ops that keep
        /// their input's scale in the int8 model); only the type may differ.
        public var rangeOf: String?
        /// Where the node's own range starts (the post-training calibration's bound):
        /// `[-bound, bound]`, or `[0, bound]` when unsigned.
        public var initialBound: Float

        public init(node: String, unsigned: Bool, rangeOf: String? = nil, initialBound: Float = 0) {
            self.node = node
            self.unsigned = unsigned
            self.rangeOf = rangeOf
            self.initialBound = initialBound
        }
    }

    public var weights: [Weights]
    public var activations: [Activation]
    /// Weight of the current batch in the moving averages of the ranges' ends:
    /// `end ← end + momentum · (batch extreme − end)` after every training-mode forward pass.
    /// 0.01 is PyTorch's `MovingAverageMinMaxObserver` default (`averaging_constant`).
    public var momentum: Float

    public init(weights: [Weights], activations: [Activation], momentum: Float = 0.01) {
        self.weights = weights
        self.activations = activations
        self.momentum = momentum
    }
}

/// The state of a fake-quantised run: its ``FakeQuantizationPlan`` and the current range
/// (`[minimum, maximum]`, an f32 tensor of two elements) of every activation that has its own.
/// A training-mode ``DNNLExecutor`` given this updates the ranges in place (the moving
/// averages); inference-mode executors only read them. A ``Trainer`` saves ``stateTensors``
/// in its checkpoints, so a resumed run continues from the same ranges.
public final class FakeQuantization {
    public let plan: FakeQuantizationPlan
    /// By node name: `[minimum, maximum]`.
    public let ranges: [String: Tensor]
    private let activationByNode: [String: FakeQuantizationPlan.Activation]

    /// Names of the range tensors in ``stateTensors``: this prefix and the node's name.
    public static let statePrefix = "activation_range/"

    /// A run's start: every range at its plan's `initialBound`.
    public convenience init(plan: FakeQuantizationPlan) throws {
        var ranges: [String: Tensor] = [:]
        for a in plan.activations where a.rangeOf == nil {
            ranges[a.node] = try Tensor(shape: [2], values: [a.unsigned ? 0 : -a.initialBound, a.initialBound])
        }
        try self.init(plan: plan, ranges: ranges)
    }

    /// A run continued from ``stateTensors`` (the other tensors given are ignored).
    public convenience init(plan: FakeQuantizationPlan, restoring tensors: [String: Tensor]) throws {
        var ranges: [String: Tensor] = [:]
        for (name, tensor) in tensors where name.hasPrefix(Self.statePrefix) {
            ranges[String(name.dropFirst(Self.statePrefix.count))] = tensor
        }
        try self.init(plan: plan, ranges: ranges)
    }

    private init(plan: FakeQuantizationPlan, ranges: [String: Tensor]) throws {
        self.plan = plan
        self.ranges = ranges
        var byNode: [String: FakeQuantizationPlan.Activation] = [:]
        for a in plan.activations {
            guard byNode.updateValue(a, forKey: a.node) == nil else {
                throw GraphError.invalidGraph("fake quantisation lists node '\(a.node)' twice")
            }
        }
        activationByNode = byNode
        for a in plan.activations {
            let owner = a.rangeOf ?? a.node
            guard byNode[owner]?.rangeOf == nil, let range = ranges[owner] else {
                throw GraphError.invalidGraph("fake quantisation of '\(a.node)': no range of its own for '\(owner)'")
            }
            guard range.shape == Shape([2]), range.dtype == .f32, range.floats.allSatisfy(\.isFinite) else {
                throw GraphError.invalidGraph("fake quantisation range of '\(owner)' must be two finite f32 values")
            }
        }
        guard plan.momentum > 0 && plan.momentum <= 1 else {
            throw GraphError.invalidGraph("fake quantisation momentum must be in (0, 1], got \(plan.momentum)")
        }
    }

    /// The range tensors by their names in a checkpoint (``statePrefix`` + node).
    public var stateTensors: [String: Tensor] {
        Dictionary(uniqueKeysWithValues: ranges.map { (Self.statePrefix + $0.key, $0.value) })
    }

    /// The plan's entry for the output of node `name`, if it is fake-quantised.
    public func activation(_ name: String) -> FakeQuantizationPlan.Activation? { activationByNode[name] }

    /// How the output of node `name` is quantised with the current ranges (`nil` when it is
    /// not): symmetric over its range's larger end, as post-training quantisation does with a
    /// calibrated bound (``ActivationQuantization/symmetric(bound:unsigned:)``); a node that
    /// shares another's range takes that one's scale with its own type.
    public func quantization(of name: String) -> ActivationQuantization? {
        guard let a = activationByNode[name] else { return nil }
        let ownerName = a.rangeOf ?? a.node
        let owner = activationByNode[ownerName]!
        let r = ranges[ownerName]!.floats
        let bound = owner.unsigned ? max(r[1], 0) : max(abs(r[0]), abs(r[1]))
        var q = ActivationQuantization.symmetric(bound: bound, unsigned: owner.unsigned)
        q.dtype = a.unsigned ? .u8 : .i8
        return q
    }

    /// Moves node `name`'s range towards a batch's extremes (the moving average).
    public func observe(_ name: String, minimum: Float, maximum: Float) {
        guard let range = ranges[name], minimum.isFinite, maximum.isFinite else { return }
        let r = range.floats, m = plan.momentum
        r[0] += m * (minimum - r[0])
        r[1] += m * (maximum - r[1])
    }

    /// Checks that every node the plan names is in `graph`, and that weights belong to
    /// convolutions and linear layers, at 7 or 8 bits.
    public func validate(for graph: Graph) throws {
        let nodes = Dictionary(graph.nodes.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        for a in plan.activations where nodes[a.node] == nil {
            throw GraphError.invalidGraph("fake quantisation names node '\(a.node)', which the graph does not have")
        }
        for w in plan.weights {
            guard let node = nodes[w.node] else {
                throw GraphError.invalidGraph("fake quantisation names node '\(w.node)', which the graph does not have")
            }
            var weighted = false
            if case .conv2d = node.op { weighted = true }
            if case .linear = node.op { weighted = true }
            guard weighted else {
                throw GraphError.invalidGraph("fake-quantised weights of '\(w.node)': it is a \(node.op.kind), not a convolution or linear layer")
            }
            guard w.bits == 7 || w.bits == 8 else {
                throw GraphError.invalidGraph("fake-quantised weights of '\(w.node)': bits must be 7 or 8, got \(w.bits)")
            }
        }
    }
}
