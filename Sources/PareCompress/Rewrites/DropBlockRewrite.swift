import PareAnalysis
import PareCore
import PareData
import PareTrain

/// `drop-block`: removes a residual block whose shortcut is an identity. A block is an
/// `add` one of whose inputs is the block's input x and whose other input is a branch used
/// only by that add and reached only from x; removing it drops the add (its consumers read
/// x) and every branch node. Blocks are named by their branch nodes' common name prefix
/// (`layer1.1` in a ResNet; the add's name when they share none).
public enum DropBlockRewrite {
    public static let kind = "drop-block"

    /// One removable block.
    public struct Block: Equatable, Sendable {
        public var name: String
        /// The add node.
        public var add: Int
        /// The block's input x.
        public var input: Int
        /// The branch's nodes, in graph order.
        public var branch: [Int]
    }

    /// Every block of `graph` that can be removed whole.
    public static func blocks(in graph: Graph) -> [Block] {
        let consumers = graph.consumers
        var result: [Block] = []
        for (index, node) in graph.nodes.enumerated() {
            guard case .add = node.op, node.inputs.count == 2, node.inputs[0] != node.inputs[1] else { continue }
            for side in 0..<2 {
                let x = node.inputs[side], top = node.inputs[1 - side]
                guard let branch = branch(from: top, to: x, add: index, graph: graph, consumers: consumers) else { continue }
                result.append(Block(name: blockName(branch.map { graph.nodes[$0].name }, add: node.name),
                                    add: index, input: x, branch: branch))
                break
            }
        }
        return result
    }

    /// The nodes between x and the add (ending at `top`), when every one is used only
    /// inside the branch or by the add and reads only branch nodes or x.
    static func branch(from top: Int, to x: Int, add: Int, graph: Graph, consumers: [[Int]]) -> [Int]? {
        var members = Set<Int>(), stack = [top]
        while let n = stack.popLast() {
            guard n != x, !members.contains(n) else { continue }
            guard n > x, !graph.nodes[n].inputs.isEmpty else { return nil }  // would reach past x, or an input
            members.insert(n)
            stack.append(contentsOf: graph.nodes[n].inputs)
        }
        guard !members.isEmpty else { return nil }
        for n in members where !consumers[n].allSatisfy({ members.contains($0) || $0 == add }) { return nil }
        guard consumers[top] == [add] else { return nil }
        return members.sorted()
    }

    static func blockName(_ names: [String], add: String) -> String {
        let dotted = names.filter { $0.contains(".") }.map { $0.split(separator: ".").map(String.init) }
        guard var prefix = dotted.first else { return add }
        for parts in dotted.dropFirst() {
            var k = 0
            while k < prefix.count, k < parts.count, prefix[k] == parts[k] { k += 1 }
            prefix = Array(prefix.prefix(k))
        }
        // A prefix naming one of the nodes themselves (a one-node branch) stays; an empty one does not.
        return prefix.isEmpty ? add : prefix.joined(separator: ".")
    }

    /// Removes the blocks named `names` (each must be a removable block of `graph`).
    public static func apply(_ graph: Graph, named names: [String],
                             measurement: RewriteMeasurement = RewriteMeasurement()) throws -> RewriteResult {
        let all = blocks(in: graph)
        var chosen: [Block] = []
        for name in names {
            guard let block = all.first(where: { $0.name == name }) else {
                let known = all.map(\.name)
                throw RewriteError.nothingMatched(kind: kind, selection: "block '\(name)'", skipped: [
                    SkippedLayer(kind: kind, node: name, reason: known.isEmpty ? "the model has no removable blocks"
                                 : "removable blocks: " + known.joined(separator: ", ")),
                ])
            }
            chosen.append(block)
        }
        return try remove(chosen, from: graph, measurement: measurement)
    }

    /// Where the automatic choice measures accuracy.
    public struct Validation {
        public var data: any Dataset
        public var transforms: [any Transform]
        /// Samples of `data` evaluated (its first ones).
        public var samples: Int
        public var batchSize: Int
        public var threads: Int

        public init(data: any Dataset, transforms: [any Transform], samples: Int = 512, batchSize: Int = 64, threads: Int = 1) {
            self.data = data; self.transforms = transforms; self.samples = samples
            self.batchSize = batchSize; self.threads = threads
        }
    }

    /// The accuracy of the graph without each block alone, best first.
    public static func rank(_ graph: Graph, validation: Validation, selection: RewriteSelection = RewriteSelection())
        throws -> [(block: Block, accuracy: Double)] {
        let subset = Subset(validation.data, indices: Array(0..<min(validation.samples, validation.data.count)))
        var ranked: [(block: Block, accuracy: Double)] = []
        for block in blocks(in: graph) where selection.selects(Node(name: block.name, op: .add, inputs: []), inputShape: nil) {
            let without = try remove([block], from: graph, measurement: RewriteMeasurement(measureError: false)).graph
            let result = try Evaluator(graph: without, batchSize: validation.batchSize, threads: validation.threads)
                .evaluate(subset, transforms: validation.transforms)
            ranked.append((block, result.top1))
        }
        return ranked.sorted { $0.accuracy > $1.accuracy }
    }

    /// Removes the `count` blocks whose removal alone costs the least accuracy on
    /// `validation` (ties: the earlier block).
    public static func apply(_ graph: Graph, count: Int, validation: Validation, selection: RewriteSelection = RewriteSelection(),
                             measurement: RewriteMeasurement = RewriteMeasurement()) throws -> RewriteResult {
        guard count >= 1 else { throw RewriteError.invalidSettings("drop-block: the block count must be at least 1, got \(count)") }
        let ranked = try rank(graph, validation: validation, selection: selection)
        guard ranked.count >= count else {
            throw RewriteError.invalidSettings("drop-block: \(count) blocks asked for, the model has \(ranked.count) removable "
                                               + "(\(ranked.map(\.block.name).joined(separator: ", ")))")
        }
        return try remove(ranked.prefix(count).map(\.block).sorted { $0.add < $1.add }, from: graph, measurement: measurement)
    }

    static func remove(_ chosen: [Block], from graph: Graph, measurement: RewriteMeasurement) throws -> RewriteResult {
        // A block inside another's branch goes with it.
        let outer = chosen.filter { block in !chosen.contains { $0.add != block.add && $0.branch.contains(block.add) } }
        var dropped = [Int: Int]()  // add -> x
        var removed = Set<Int>()
        for block in outer { dropped[block.add] = block.input; removed.formUnion(block.branch) }
        var editor = try GraphEditor(graph)
        for (index, node) in graph.nodes.enumerated() {
            if let x = dropped[index] {
                try editor.drop(index, forwardingTo: x)
            } else if !removed.contains(index) {
                try editor.keep(index, op: node.op, parameters: editor.sourceParameters(of: index).mapValues { $0.copy() })
            }
        }
        let result = try editor.finish()
        let shapes = try graph.inferShapes()
        let records = try outer.map { block -> RewriteRecord in
            let sub = try blockGraph(block, graph: graph, shapes: shapes)
            var error: Double?
            if measurement.measureError {
                let identity = Graph(nodes: [Node(name: "input", op: .input(shape: shapes[block.input]), inputs: [])], outputs: [0])
                error = try LayerRewrite.relativeError(identity, against: sub, measurement: measurement)
            }
            return RewriteRecord(kind: kind, node: block.name, replacement: [],
                                 detail: "block of \(block.branch.count) nodes -> identity",
                                 parametersBefore: try sub.trainableParameterCount(), parametersAfter: 0,
                                 macsBefore: try LayerRewrite.macs(sub), macsAfter: 0, relativeError: error)
        }
        return RewriteResult(graph: result, records: records, skipped: [])
    }

    /// The block alone: an input of x's shape, the branch and the add.
    static func blockGraph(_ block: Block, graph: Graph, shapes: [Shape]) throws -> Graph {
        var position = [block.input: 0]
        var nodes = [Node(name: "input", op: .input(shape: shapes[block.input]), inputs: [])]
        var parameters: [String: Tensor] = [:]
        for index in block.branch + [block.add] {
            var node = graph.nodes[index]
            node.inputs = node.inputs.map { position[$0]! }
            position[index] = nodes.count
            nodes.append(node)
        }
        let sub = Graph(nodes: nodes, outputs: [nodes.count - 1])
        for (name, _, _) in try sub.parameterSpecs() { parameters[name] = graph.parameters[name] }
        return Graph(nodes: nodes, outputs: [nodes.count - 1], parameters: parameters)
    }
}
