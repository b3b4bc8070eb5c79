import PareCore

/// The channel dependency groups of a graph, computed from its ops alone (no tracing).
///
/// Every node output has one *slot* per channel (per feature for `[F]` outputs). The coupling
/// rules, one exhaustive switch over ``Op``, join slots that must be removed together:
///
/// - activations (PReLU with its per-channel slope included), batch norm, pooling, dropout,
///   global average pool: output channel `c` is input channel `c`;
/// - `add` and `mul` (a squeeze-and-excitation gate `[C, 1, 1]` included): channel `c` of both
///   inputs and of the output is one;
/// - `concat`: the inputs' channels are stacked at their offsets;
/// - `channelSlice(start, count)`: output `c` is input `start + c`;
/// - a depthwise convolution (`groups == inputChannels > 1`): output `c·m + r` is input `c`;
/// - a grouped convolution keeps every group the same width: position `j` of every group is
///   one unit, on its input side and on its output side;
/// - `channelShuffle(g)`: output `j·g + i` is input `i·C/g + j`, and position `j` of every
///   shuffle group is one unit, so the shuffle stays a shuffle;
/// - `flatten`: feature `f` of a `[C, H, W]` input is channel `f / (H·W)`, so a linear layer
///   after it loses H·W columns per channel;
/// - a convolution (not depthwise) and a linear layer start a new channel space.
///
/// Graph inputs, the model's outputs, softmax (which couples all its features) and local
/// response norm (which normalises each channel by its neighbours) are never pruned. A *unit* is a class of joined slots; a *group* is the units that share producers
/// (a unit's producers are the convolutions and linear layers whose outputs it holds).
public struct ChannelAnalysis: Sendable {
    public let graph: Graph
    public let shapes: [Shape]
    public let groups: [ChannelGroup]
    /// First slot of every node's output, and its channel count.
    let offsets: [Int]
    let extents: [Int]
    /// Slots of every unit of every group (`unitSlots[group][unit]`), units ordered by their
    /// first slot.
    let unitSlots: [[[Int]]]

    public init(_ graph: Graph) throws {
        self.graph = graph
        shapes = try graph.inferShapes()
        var offsets: [Int] = [], extents: [Int] = []
        var total = 0
        for shape in shapes {
            offsets.append(total)
            let extent = shape.rank == 0 ? 1 : shape[0]
            extents.append(extent)
            total += extent
        }
        self.offsets = offsets
        self.extents = extents

        var sets = DisjointSets(count: total)
        var fixed = [String?](repeating: nil, count: total)  // why a slot may not be removed
        func slot(_ node: Int, _ channel: Int) -> Int { offsets[node] + channel }
        func fix(_ node: Int, _ reason: String) {
            for c in 0..<extents[node] where fixed[slot(node, c)] == nil { fixed[slot(node, c)] = reason }
        }
        func join(_ a: Int, _ ca: Int, _ b: Int, _ cb: Int) { sets.union(slot(a, ca), slot(b, cb)) }
        func passThrough(_ node: Int, _ input: Int) {
            for c in 0..<extents[node] { join(node, c, input, c) }
        }

        var isProducer = [Bool](repeating: false, count: graph.nodes.count)
        for (index, node) in graph.nodes.enumerated() {
            let inputs = node.inputs
            switch node.op {
            case .input:
                isProducer[index] = true
                fix(index, "it reaches the graph input '\(node.name)'")
            case let .conv2d(a):
                let inChannels = extents[inputs[0]]
                if Self.isDepthwise(a, inputChannels: inChannels) {
                    let multiplier = a.outChannels / a.groups
                    for c in 0..<inChannels {
                        for r in 0..<multiplier { join(index, c * multiplier + r, inputs[0], c) }
                    }
                } else {
                    isProducer[index] = true
                    if a.groups > 1 {
                        let inWidth = inChannels / a.groups, outWidth = a.outChannels / a.groups
                        for g in 1..<a.groups {
                            for j in 0..<inWidth { join(inputs[0], j, inputs[0], g * inWidth + j) }
                            for j in 0..<outWidth { join(index, j, index, g * outWidth + j) }
                        }
                    }
                }
            case .linear:
                isProducer[index] = true
            case .batchNorm, .relu, .relu6, .hardSwish, .sigmoid, .leakyRelu, .prelu, .elu, .tanh, .silu, .hardSigmoid,
                 .pad, .maxPool, .avgPool, .globalAvgPool, .dropout, .unflatten:
                passThrough(index, inputs[0])
            case .localResponseNorm:
                // Each channel is normalised by its neighbours: removing one changes the others.
                passThrough(index, inputs[0])
                fix(index, "local response norm '\(node.name)' mixes neighbouring channels")
            case .add, .mul:
                passThrough(index, inputs[0])
                passThrough(index, inputs[1])
            case .concat:
                var offset = 0
                for input in inputs {
                    for c in 0..<extents[input] { join(index, offset + c, input, c) }
                    offset += extents[input]
                }
            case let .channelShuffle(groups):
                let width = extents[inputs[0]] / groups
                for i in 0..<groups {
                    for j in 0..<width {
                        join(index, j * groups + i, inputs[0], i * width + j)
                        if i > 0 { join(inputs[0], j, inputs[0], i * width + j) }
                    }
                }
            case let .channelSlice(start, count):
                for c in 0..<count { join(index, c, inputs[0], start + c) }
            case .flatten:
                let perChannel = max(1, extents[index] / max(1, extents[inputs[0]]))
                for f in 0..<extents[index] { join(index, f, inputs[0], f / perChannel) }
            case .softmax:
                fix(index, "softmax '\(node.name)' couples all its features")
                fix(inputs[0], "softmax '\(node.name)' couples all its features")
            }
        }
        for output in graph.outputs { fix(output, "it feeds the model output '\(graph.nodes[output].name)'") }

        // Units: classes of joined slots, in order of their first slot.
        let units = Self.buckets((0..<total).map { sets.find($0) })
        func node(of s: Int) -> Int { Self.node(containing: s, offsets: offsets) }
        // Groups: units that share a producer, joined transitively.
        var producerSets = DisjointSets(count: graph.nodes.count)
        var unitProducer: [Int] = []
        for unit in units {
            let producers = unit.map(node(of:)).filter { isProducer[$0] }
            // Every slot traces back to an input, convolution or linear layer.
            let first = producers.first ?? node(of: unit[0])
            for p in producers.dropFirst() { producerSets.union(first, p) }
            unitProducer.append(first)
        }
        let groupUnits = Self.buckets(unitProducer.map { producerSets.find($0) })

        var slotGroup = [Int](repeating: 0, count: total)
        for (g, members) in groupUnits.enumerated() {
            for u in members { for s in units[u] { slotGroup[s] = g } }
        }
        var groupMembers = [[ChannelGroupMember]](repeating: [], count: groupUnits.count)
        var producers = [[String]](repeating: [], count: groupUnits.count)
        /// Appends one member per group among `node`'s channels `0..<extent` of `base`'s slots.
        func addMembers(_ index: Int, _ role: ChannelGroupMember.Role, slotsOf base: Int) {
            var byGroup: [Int: [Int]] = [:]
            var order: [Int] = []
            for c in 0..<extents[base] {
                let g = slotGroup[offsets[base] + c]
                if byGroup[g] == nil { order.append(g) }
                byGroup[g, default: []].append(c)
            }
            for g in order {
                if role == .outputChannels { producers[g].append(graph.nodes[index].name) }
                groupMembers[g].append(Self.member(graph.nodes[index], index, role, byGroup[g]!))
            }
        }
        for (index, node) in graph.nodes.enumerated() {
            addMembers(index, Self.outputRole(node.op, inputChannels: node.inputs.first.map { extents[$0] } ?? 0),
                       slotsOf: index)
            // The consumer side: columns of a convolution or linear layer reading the group.
            switch node.op {
            case let .conv2d(a) where !Self.isDepthwise(a, inputChannels: extents[node.inputs[0]]):
                addMembers(index, .inputChannels, slotsOf: node.inputs[0])
            case .linear:
                addMembers(index, .inputFeatures, slotsOf: node.inputs[0])
            case .input, .conv2d, .batchNorm, .relu, .relu6, .hardSwish, .sigmoid, .leakyRelu, .prelu, .elu, .tanh,
                 .silu, .hardSigmoid, .localResponseNorm, .pad, .maxPool, .avgPool, .globalAvgPool, .add, .mul, .concat, .channelShuffle, .channelSlice, .flatten, .unflatten, .dropout,
                 .softmax:
                break
            }
        }
        var groups: [ChannelGroup] = []
        var slotsOfGroups: [[[Int]]] = []
        for (id, members) in groupUnits.enumerated() {
            let slots = members.map { units[$0] }
            let reason = slots.lazy.joined().compactMap { fixed[$0] }.first
            groups.append(ChannelGroup(id: id, units: slots.count, prunable: reason == nil, reason: reason,
                                       producers: producers[id], members: groupMembers[id]))
            slotsOfGroups.append(slots)
        }
        // Order groups by their first producer, so ids read in model order.
        let order = groups.indices.sorted { a, b in
            (groups[a].members.first?.index ?? 0, a) < (groups[b].members.first?.index ?? 0, b)
        }
        self.groups = order.enumerated().map { newID, old in
            var group = groups[old]
            group.id = newID
            return group
        }
        unitSlots = order.map { slotsOfGroups[$0] }
    }

    /// A depthwise convolution: one input channel per group, more than one group.
    static func isDepthwise(_ a: Conv2dAttributes, inputChannels: Int) -> Bool {
        a.groups > 1 && a.groups == inputChannels
    }

    private static func outputRole(_ op: Op, inputChannels: Int) -> ChannelGroupMember.Role {
        switch op {
        case .input: return .input
        case let .conv2d(a): return isDepthwise(a, inputChannels: inputChannels) ? .depthwise : .outputChannels
        case .linear: return .outputChannels
        case .batchNorm: return .batchNorm
        case let .prelu(perChannel): return perChannel ? .slopes : .activation
        case .relu, .relu6, .hardSwish, .sigmoid, .leakyRelu, .elu, .tanh, .silu, .hardSigmoid, .localResponseNorm, .pad,
             .maxPool, .avgPool, .globalAvgPool, .add, .mul, .concat, .channelShuffle, .channelSlice, .flatten, .unflatten,
             .dropout, .softmax:
            return .activation
        }
    }

    private static func member(_ node: Node, _ index: Int, _ role: ChannelGroupMember.Role,
                               _ channels: [Int]) -> ChannelGroupMember {
        ChannelGroupMember(node: node.name, index: index, op: node.op.kind, role: role, count: channels.count,
                           offset: channels[0], contiguous: channels.last! - channels[0] + 1 == channels.count)
    }

    // MARK: Slots

    /// Slot of channel `channel` of node `node`'s output.
    func slot(_ node: Int, _ channel: Int) -> Int { offsets[node] + channel }

    /// Total slots of the graph.
    var slotCount: Int { (offsets.last ?? 0) + (extents.last ?? 0) }

    /// For every node, the channels of its output that stay when the units `removed[g]` of
    /// every group `g` are removed.
    func keptChannels(removing removed: [Int: Set<Int>]) -> [[Int]] {
        var gone = [Bool](repeating: false, count: slotCount)
        for (group, units) in removed {
            for u in units { for s in unitSlots[group][u] { gone[s] = true } }
        }
        return graph.nodes.indices.map { n in (0..<extents[n]).filter { !gone[offsets[n] + $0] } }
    }

    /// `removed` with units given back, until no node is left without channels: for each
    /// emptied node (a narrow channel-slice window, say), the removed unit holding its
    /// channels that `preference` ranks highest (the best-scoring one) is restored.
    func keepingEveryNode(_ removed: [Int: Set<Int>], preference: (_ group: Int, _ unit: Int) -> Double) -> [Int: Set<Int>] {
        var removed = removed
        var owner: [Int: (group: Int, unit: Int)] = [:]
        for (group, units) in removed { for u in units { for s in unitSlots[group][u] { owner[s] = (group, u) } } }
        while true {
            let kept = keptChannels(removing: removed)
            guard let empty = graph.nodes.indices.first(where: { kept[$0].isEmpty && extents[$0] > 0 }) else { return removed }
            let holders = (0..<extents[empty]).compactMap { owner[offsets[empty] + $0] }
            guard let best = holders.max(by: { preference($0.group, $0.unit) < preference($1.group, $1.unit) }) else {
                return removed
            }
            removed[best.group]?.remove(best.unit)
            for s in unitSlots[best.group][best.unit] { owner[s] = nil }
        }
    }

    /// Slots of unit `unit` of group `group`.
    func slots(group: Int, unit: Int) -> [Int] { unitSlots[group][unit] }

    /// The node owning slot `s` and its channel.
    func location(of s: Int) -> (node: Int, channel: Int) {
        let node = Self.node(containing: s, offsets: offsets)
        return (node, s - offsets[node])
    }

    /// The node whose slots start at or before `s` (binary search over ascending `offsets`).
    static func node(containing s: Int, offsets: [Int]) -> Int {
        var low = 0, high = offsets.count - 1
        while low < high {
            let mid = (low + high + 1) / 2
            if offsets[mid] <= s { low = mid } else { high = mid - 1 }
        }
        return low
    }

    /// Indices grouped by equal key, buckets in order of their first index.
    static func buckets(_ keys: [Int]) -> [[Int]] {
        var bucketOfKey: [Int: Int] = [:]
        var result: [[Int]] = []
        for (index, key) in keys.enumerated() {
            if let b = bucketOfKey[key] {
                result[b].append(index)
            } else {
                bucketOfKey[key] = result.count
                result.append([index])
            }
        }
        return result
    }
}

/// Union-find with path halving and union by size.
struct DisjointSets {
    private var parent: [Int]
    private var size: [Int]

    init(count: Int) {
        parent = Array(0..<count)
        size = Array(repeating: 1, count: count)
    }

    mutating func find(_ x: Int) -> Int {
        var x = x
        while parent[x] != x {
            parent[x] = parent[parent[x]]
            x = parent[x]
        }
        return x
    }

    mutating func union(_ a: Int, _ b: Int) {
        var ra = find(a), rb = find(b)
        guard ra != rb else { return }
        if size[ra] < size[rb] { swap(&ra, &rb) }
        parent[rb] = ra
        size[ra] += size[rb]
    }
}
