import PareAnalysis
import PareCore

/// The result of a rewrite: the new graph and what was replaced and skipped.
public struct RewriteResult {
    public var graph: Graph
    public var records: [RewriteRecord]
    public var skipped: [SkippedLayer]

    public init(graph: Graph, records: [RewriteRecord], skipped: [SkippedLayer]) {
        self.graph = graph; self.records = records; self.skipped = skipped
    }
}

/// How a layer rewrite measures its records.
public struct RewriteMeasurement: Sendable {
    /// Run old and new layer on random input and record the relative error.
    public var measureError: Bool
    /// Seed of that input.
    public var seed: UInt64
    public var threads: Int

    public init(measureError: Bool = true, seed: UInt64 = 0, threads: Int = 1) {
        self.measureError = measureError; self.seed = seed; self.threads = threads
    }
}

/// What a layer rewrite does with one node.
public enum LayerPlan {
    /// Not a layer of the kind this rewrite is about (kept, not reported).
    case notApplicable
    /// The right kind of layer, but this rewrite cannot take it (kept, reported).
    case skip(String)
    /// Replace the node by the nodes `build` adds (reading the node's input, returning the
    /// value that stands for its output). `build` only adds nodes with tensors computed
    /// beforehand: it runs twice, for the new graph and for the single-layer check.
    case replace(detail: String, build: (inout GraphEditor, GraphEditor.Value) -> GraphEditor.Value)
}

/// The driver every one-layer-to-a-few rewrite shares (dwpw, svd, tucker, grouped, kernel):
/// walks the graph with a ``GraphEditor``, asks `plan` about every selected node, puts the
/// replacements in place, copies everything else, and records each replacement with its
/// parameters, MACs and relative error measured on the single-layer subgraph.
public enum LayerRewrite {
    /// A layer that a plan sees: the node, its input shape and its parameters by suffix.
    public struct Layer {
        public var index: Int
        public var node: Node
        public var inputShape: Shape
        public var outputShape: Shape
        public var parameters: [String: Tensor]
    }

    /// Applies `plan` to every node `selection` selects and `excluded` does not name.
    /// Throws when nothing was replaced, naming the selection, or when a node named exactly
    /// by `only` is skipped.
    public static func apply(_ graph: Graph, kind: String, selection: RewriteSelection, excluded: Set<String> = [],
                             measurement: RewriteMeasurement = RewriteMeasurement(),
                             plan: (Layer) throws -> LayerPlan) throws -> RewriteResult {
        var editor = try GraphEditor(graph)
        var records: [RewriteRecord] = []
        var skipped: [SkippedLayer] = []
        for (index, node) in graph.nodes.enumerated() {
            let inputShape = node.inputs.first.map { editor.sourceShape($0) }
            var decision = LayerPlan.notApplicable
            if let inputShape, !excluded.contains(node.name), selection.selects(node, inputShape: inputShape) {
                let layer = Layer(index: index, node: node, inputShape: inputShape, outputShape: editor.sourceShape(index),
                                  parameters: editor.sourceParameters(of: index))
                decision = try plan(layer)
                if case let .replace(detail, build) = decision {
                    let first = editor.nodes.count
                    try editor.replace(index) { e, inputs in build(&e, inputs[0]) }
                    let names = editor.nodes[first...].map(\.name)
                    records.append(try record(kind: kind, layer: layer, replacement: names, detail: detail,
                                              build: build, measurement: measurement))
                    continue
                }
            }
            if case let .skip(reason) = decision {
                if selection.namesExplicitly(node.name) { throw RewriteError.cannotRewrite(kind: kind, node: node.name, reason: reason) }
                skipped.append(SkippedLayer(kind: kind, node: node.name, reason: reason))
            }
            // Copies, so that training the new graph never writes into the old one.
            try editor.keep(index, op: node.op, parameters: editor.sourceParameters(of: index).mapValues { $0.copy() })
        }
        guard !records.isEmpty else {
            throw RewriteError.nothingMatched(kind: kind, selection: selection.description, skipped: skipped)
        }
        return RewriteResult(graph: try editor.finish(), records: records, skipped: skipped)
    }

    /// The graph of one layer: an input of its input shape and the node.
    static func singleLayerGraph(_ layer: Layer) -> Graph {
        var node = layer.node
        node.inputs = [0]
        var parameters: [String: Tensor] = [:]
        for (suffix, tensor) in layer.parameters { parameters[node.parameterName(suffix)] = tensor }
        return Graph(nodes: [Node(name: "input", op: .input(shape: layer.inputShape), inputs: []), node],
                     outputs: [1], parameters: parameters)
    }

    static func record(kind: String, layer: Layer, replacement: [String], detail: String,
                       build: (inout GraphEditor, GraphEditor.Value) -> GraphEditor.Value,
                       measurement: RewriteMeasurement) throws -> RewriteRecord {
        let old = singleLayerGraph(layer)
        var editor = try GraphEditor(old)
        try editor.keep(0)
        try editor.replace(1) { e, inputs in build(&e, inputs[0]) }
        let new = try editor.finish()
        let error = measurement.measureError ? try relativeError(new, against: old, measurement: measurement) : nil
        return RewriteRecord(kind: kind, node: layer.node.name, replacement: replacement, detail: detail,
                             parametersBefore: try old.trainableParameterCount(), parametersAfter: try new.trainableParameterCount(),
                             macsBefore: try macs(old), macsAfter: try macs(new), relativeError: error)
    }

    /// Multiply-accumulates per sample of a graph.
    static func macs(_ graph: Graph) throws -> Int {
        let shapes = try graph.inferShapes()
        return graph.nodes.enumerated().reduce(0) { total, item in
            total + item.element.op.operationCount(inputs: item.element.inputs.map { shapes[$0] }, output: shapes[item.offset]).macs
        }
    }

    /// `‖new(x) − old(x)‖ / ‖old(x)‖` for one seeded normal sample `x` of the graphs' (single)
    /// input shape, both run in inference mode.
    public static func relativeError(_ new: Graph, against old: Graph, measurement: RewriteMeasurement) throws -> Double {
        guard case let .input(shape) = old.nodes[old.inputIndices[0]].op else {
            throw RewriteError.invalidSettings("graph has no input")
        }
        var generator = SeededGenerator(seed: measurement.seed)
        let x = Tensor.randomNormal(Shape([1] + shape.dimensions), generator: &generator)
        let configuration = ExecutorConfiguration(threads: measurement.threads, fuseInference: false)
        let yOld = try DNNLExecutor(graph: old, batchSize: 1, mode: .inference, configuration: configuration).forward([x])[0].copy()
        let yNew = try DNNLExecutor(graph: new, batchSize: 1, mode: .inference, configuration: configuration).forward([x])[0].copy()
        guard yOld.shape == yNew.shape else {
            throw RewriteError.numerical("rewritten layer gives \(yNew.shape), the original \(yOld.shape)")
        }
        var difference = 0.0, norm = 0.0
        for (a, b) in zip(yNew.floats, yOld.floats) {
            difference += Double(a - b) * Double(a - b)
            norm += Double(b) * Double(b)
        }
        return norm > 0 ? (difference / norm).squareRoot() : difference.squareRoot()
    }
}

// Conversions between weight tensors and Double matrices.
extension Tensor {
    /// The tensor's values as a `rows x (count / rows)` Double matrix (row-major).
    func matrix(rows: Int) -> Matrix {
        Matrix(rows: rows, columns: elementCount / rows, values: floats.map(Double.init))
    }

    /// A f32 tensor of `shape` from Doubles in row-major order.
    static func from(_ values: [Double], shape: Shape) -> Tensor {
        let tensor = Tensor(zeros: shape)
        let out = tensor.floats
        for i in 0..<values.count { out[i] = Float(values[i]) }
        return tensor
    }
}

/// `3x3`, `1x1`.
func kernelText(_ a: Conv2dAttributes) -> String { "\(a.kernelSize[0])x\(a.kernelSize[1])" }
