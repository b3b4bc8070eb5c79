import Foundation
import PareCore

/// What an ONNX value name stands for while importing.
enum ImportedValue {
    /// Known at import time.
    case constant(ConstantTensor)
    /// The output of Pare node `index`.
    case node(Int)
    /// Node `index`'s output with zero padding on H and W, waiting for a `Conv` or
    /// `AveragePool` to take the padding.
    case padded(Int, Padding2d)
    /// Node `index`'s `[C, H, W]` output viewed as `[g, C/g, H, W]` (a channel shuffle's
    /// first reshape).
    case channelGroups(Int, groups: Int)
    /// The same, transposed to `[C/g, g, H, W]` (waiting for the reshape back).
    case transposedChannelGroups(Int, groups: Int)
}

/// Translates one ONNX `ModelProto` into a ``Graph``; see ``ONNXImport`` for the rules.
/// The operator handlers are in `ONNXGraphTranslator+Operators.swift`.
struct ONNXGraphTranslator {
    let model: Onnx_ModelProto
    let source: String
    let options: ONNXImportOptions

    /// The `ai.onnx` opset of the model.
    var opset = 0
    var values: [String: ImportedValue] = [:]
    /// Uses of each ONNX value: node inputs plus graph outputs.
    var useCounts: [String: Int] = [:]
    /// Per Pare node: the ONNX uses of the names standing for its output. A node used once
    /// (by the op being translated) may be changed in place (a bias added, a scale folded).
    var pareUses: [Int] = []
    var nodes: [Node] = []
    var shapes: [Shape] = []
    var parameters: [String: Tensor] = [:]
    var usedNames: Set<String> = []
    /// The batch size the graph input declares, when it is a number.
    var fixedBatch: Int?
    /// The ONNX node being translated, and its attributes.
    var current = Onnx_NodeProto()
    /// Its position in the ONNX graph.
    var currentIndex = 0
    var attributes = NodeAttributes(Onnx_NodeProto())
    /// The most elements a folded constant may have (``ConstantFolding/foldLimit(fileBytes:)``).
    let foldLimit: Int

    init(model: Onnx_ModelProto, source: String, options: ONNXImportOptions,
         foldLimit: Int = ConstantFolding.maxFoldedElements) {
        self.model = model
        self.source = source
        self.options = options
        self.foldLimit = foldLimit
    }

    func failure(_ problem: ONNXImportError.Problem) -> ONNXImportError {
        ONNXImportError(file: source, problem: problem)
    }

    // MARK: Driver

    mutating func translate() throws -> Graph {
        let imports = model.opsetImport.filter { $0.domain.isEmpty || $0.domain == "ai.onnx" }
        guard let declared = imports.first else { throw failure(.unsupportedOpset(found: nil)) }
        guard ONNXImport.supportedOpsets.contains(Int(declared.version)) else {
            throw failure(.unsupportedOpset(found: Int(clamping: declared.version)))
        }
        opset = Int(declared.version)
        guard model.hasGraph, !model.graph.node.isEmpty else { throw failure(.invalidModel(reason: "the model has no graph nodes")) }
        let graph = model.graph
        guard graph.sparseInitializer.isEmpty else {
            throw failure(.invalidModel(reason: "sparse initializers are not supported"))
        }

        for initializer in graph.initializer {
            do {
                values[initializer.name] = .constant(try ConstantTensor(proto: initializer))
            } catch let ImportFailure.invalid(reason), let ImportFailure.unsupported(reason) {
                throw failure(.invalidModel(reason: "initializer '\(initializer.name)': \(reason)"))
            }
        }
        for node in graph.node {
            for name in node.input where !name.isEmpty { useCounts[name, default: 0] += 1 }
        }
        for output in graph.output { useCounts[output.name, default: 0] += 1 }

        try declareInputs()
        for (index, node) in graph.node.enumerated() {
            current = node
            currentIndex = index
            attributes = NodeAttributes(node)
            do {
                try translateCurrent()
            } catch let ImportFailure.invalid(reason) {
                throw failure(.invalidModel(reason: "node '\(displayName)' (\(node.opType)): \(reason)"))
            } catch let ImportFailure.unsupported(reason) {
                throw failure(.unsupportedUse(node: displayName, opType: node.opType, reason: reason))
            } catch let error as ONNXImportError {
                throw error
            } catch {
                throw failure(.invalidModel(reason: "node '\(displayName)' (\(node.opType)): \(error)"))
            }
        }

        var outputs: [Int] = []
        for output in graph.output {
            switch values[output.name] {
            case let .node(index)?:
                outputs.append(index)
            case .constant?:
                throw failure(.unsupportedUse(node: output.name, opType: "graph output",
                                              reason: "the output is a constant; Pare graph outputs are computed values"))
            case nil:
                throw failure(.invalidModel(reason: "graph output '\(output.name)' is not produced by any node"))
            case let pending?:
                throw failure(.unsupportedUse(node: output.name, opType: "graph output", reason: pendingReason(pending)))
            }
        }
        guard !outputs.isEmpty else { throw failure(.invalidModel(reason: "the graph has no outputs")) }

        var metadata: [String: String] = [:]
        for entry in model.metadataProps { metadata[entry.key] = entry.value }
        if metadata["model"] == nil, !graph.name.isEmpty { metadata["model"] = graph.name }
        if metadata["source"] == nil {
            let producer = [model.producerName, model.producerVersion].filter { !$0.isEmpty }.joined(separator: " ")
            metadata["source"] = "ONNX import of \(URL(fileURLWithPath: source).lastPathComponent)"
                + (producer.isEmpty ? "" : " (written by \(producer))") + ", opset \(opset)"
        }
        let result = Graph(nodes: nodes, outputs: outputs, parameters: parameters, metadata: metadata)
        do {
            try result.validate()
        } catch let error as GraphError {
            throw failure(.invalidGraph(error))
        }
        return result
    }

    /// Input nodes for the graph inputs that are not initializers.
    private mutating func declareInputs() throws {
        let inputs = model.graph.input.filter {
            if case .constant? = values[$0.name] { return false }
            return true
        }
        guard !inputs.isEmpty else { throw failure(.invalidModel(reason: "the graph has no inputs")) }
        if options.input != nil, inputs.count != 1 {
            throw failure(.unsupportedUse(node: inputs[0].name, opType: "graph input",
                                          reason: "an input shape was given, but the model has \(inputs.count) inputs"))
        }
        for input in inputs {
            func reject(_ reason: String) -> ONNXImportError {
                failure(.unsupportedUse(node: input.name, opType: "graph input", reason: reason))
            }
            guard case let .tensorType(type)? = input.type.value else { throw reject("not a tensor") }
            guard type.elemType == Int32(Onnx_TensorProto.DataType.float.rawValue) else {
                throw reject("element type \(type.elemType); Pare models take float (1) inputs")
            }
            let dims = type.shape.dim
            guard dims.count >= 2 else { throw reject("rank \(dims.count); Pare inputs are [N, ...] with a batch dimension") }
            if case let .dimValue(batch)? = dims[0].value, batch > 0 { fixedBatch = Int(batch) }
            var perSample: [Int] = []
            for (axis, dim) in dims.enumerated().dropFirst() {
                if case let .dimValue(size)? = dim.value, size > 0, size <= Int64(Int32.max) {
                    perSample.append(Int(size))
                } else if options.input == nil {
                    throw reject("dimension \(axis) is not a fixed size; give the input shape (--input CxHxW)")
                }
            }
            let shape = options.input ?? Shape(perSample)
            if case let .failure(problem) = Op.input(shape: shape).outputShape(inputs: []) { throw reject(problem.reason) }
            let name = isPlainName(input.name) && !usedNames.contains(input.name) ? input.name : "input_\(nodes.count)"
            let index = try appendNode(.input(shape: shape), inputs: [], name: name)
            define(input.name, .node(index))
        }
    }

    // MARK: Values

    /// Records the value of ONNX name `name`.
    mutating func define(_ name: String, _ value: ImportedValue) {
        guard !name.isEmpty else { return }
        values[name] = value
        if case let .node(index) = value { pareUses[index] += useCounts[name] ?? 0 }
    }

    /// Defines output `k` of the current node.
    mutating func defineOutput(_ k: Int, _ value: ImportedValue) {
        if k < current.output.count { define(current.output[k], value) }
    }

    /// Whether output `k` of the current node exists and is used.
    func outputIsUsed(_ k: Int) -> Bool {
        k < current.output.count && !current.output[k].isEmpty && (useCounts[current.output[k]] ?? 0) > 0
    }

    /// Input `k` of the current node, nil when omitted.
    func value(_ k: Int) throws -> ImportedValue? {
        guard k < current.input.count, !current.input[k].isEmpty else { return nil }
        guard let value = values[current.input[k]] else {
            throw ImportFailure.invalid("input '\(current.input[k])' is not defined before it is used")
        }
        return value
    }

    /// Input `k`, which must be a constant.
    func constant(_ k: Int, _ role: String) throws -> ConstantTensor {
        guard let value = try value(k) else { throw ImportFailure.invalid("the \(role) (input \(k)) is missing") }
        guard case let .constant(tensor) = value else {
            throw ImportFailure.unsupported("the \(role) (input \(k)) is computed at run time; Pare needs it constant")
        }
        return tensor
    }

    /// Input `k` when present, which must then be a constant.
    func optionalConstant(_ k: Int, _ role: String) throws -> ConstantTensor? {
        try value(k) == nil ? nil : try constant(k, role)
    }

    /// Input `k`, which must be an activation (a Pare node's output); returns the node.
    func activation(_ k: Int) throws -> Int {
        guard let value = try value(k) else { throw ImportFailure.invalid("input \(k) is missing") }
        switch value {
        case let .node(index): return index
        case .constant: throw ImportFailure.unsupported("input \(k) is a constant; Pare needs an activation here")
        case .padded, .channelGroups, .transposedChannelGroups:
            throw ImportFailure.unsupported(pendingReason(value))
        }
    }

    func pendingReason(_ value: ImportedValue) -> String {
        switch value {
        case .constant, .node: return ""
        case .padded: return "it reads a Pad, which Pare folds only into a following Conv or AveragePool"
        case .channelGroups, .transposedChannelGroups:
            return "it reads a grouped-channel Reshape/Transpose, which Pare reads only as a channel shuffle "
                + "(Reshape [N, g, C/g, H, W], Transpose [0, 2, 1, 3, 4], Reshape [N, C, H, W])"
        }
    }

    /// The ONNX shape (batch first) of a value, for `Shape`.
    func onnxShape(_ value: ImportedValue) -> [SymbolicInteger] {
        func activationShape(_ index: Int) -> [SymbolicInteger] { [.batch] + shapes[index].dimensions.map { .known($0) } }
        switch value {
        case let .constant(tensor): return tensor.shape.map { .known($0) }
        case let .node(index): return activationShape(index)
        case let .padded(index, p):
            let s = shapes[index]
            return [.batch, .known(s[0]), .known(s[1] + p.top + p.bottom), .known(s[2] + p.left + p.right)]
        case let .channelGroups(index, groups):
            let s = shapes[index]
            return [.batch, .known(groups), .known(s[0] / groups), .known(s[1]), .known(s[2])]
        case let .transposedChannelGroups(index, groups):
            let s = shapes[index]
            return [.batch, .known(s[0] / groups), .known(groups), .known(s[1]), .known(s[2])]
        }
    }

    // MARK: Nodes

    /// Appends a Pare node after checking its shape; `parameters` by suffix (`weight`, ...).
    /// Batch norms get `num_batches_tracked` = 0.
    @discardableResult
    mutating func appendNode(_ op: Op, inputs: [Int], name: String, parameters newParameters: [String: Tensor] = [:]) throws -> Int {
        let inputShapes = inputs.map { shapes[$0] }
        let shape: Shape
        switch op.outputShape(inputs: inputShapes) {
        case let .success(s): shape = s
        case let .failure(failure):
            throw ImportFailure.unsupported("as Pare \(op.kind) on input shape(s) \(inputShapes.map { "[\($0)]" }.joined(separator: ", ")): \(failure.reason)")
        }
        let node = Node(name: name, op: op, inputs: inputs)
        var owned = newParameters
        for spec in op.parameterSpecs(inputs: inputShapes) {
            if spec.role == .batchCount, owned[spec.suffix] == nil {
                owned[spec.suffix] = Tensor(zeros: spec.shape, dtype: .i64)
            }
            guard let tensor = owned[spec.suffix] else { throw ImportFailure.invalid("no \(spec.suffix) for \(op.kind)") }
            guard tensor.shape == spec.shape else {
                throw ImportFailure.invalid("\(spec.suffix) has shape [\(tensor.shape)], \(op.kind) needs [\(spec.shape)]")
            }
            parameters[node.parameterName(spec.suffix)] = tensor
        }
        usedNames.insert(name)
        nodes.append(node)
        shapes.append(shape)
        pareUses.append(0)
        return nodes.count - 1
    }

    // MARK: Names

    /// A name for the node about to be appended: `parameterPrefix` (a state-dict prefix from
    /// the weight's initializer name), else for layers with parameters the module path of a
    /// TorchScript node name, else the ONNX node name when plain, else `kind_index`; made
    /// unique, and never one whose parameter names another node already uses.
    func nodeName(kind: String, parameterPrefix: String? = nil, hasParameters: Bool = false) -> String {
        var candidates: [String] = []
        if let parameterPrefix { candidates.append(parameterPrefix) }
        if hasParameters, let path = torchModulePath(current.name) { candidates.append(path) }
        if isPlainName(current.name) { candidates.append(current.name) }
        let base = candidates.first { candidate in
            !usedNames.contains(candidate) && !parameters.keys.contains { $0.hasPrefix(candidate + ".") }
        } ?? candidates.first ?? "\(kind)_\(nodes.count)"
        var name = base
        var suffix = 1
        while usedNames.contains(name) || parameters.keys.contains(where: { $0.hasPrefix(name + ".") }) {
            name = "\(base)_\(suffix)"
            suffix += 1
        }
        return name
    }

    /// The prefix of a state-dict-like initializer name: `layer1.0.conv1` for
    /// `layer1.0.conv1.weight` (and `suffix` "weight"); nil for exporter-made names
    /// (`onnx::Conv_193`, `/conv1/Constant_output_0`).
    func statePrefix(inputIndex k: Int, suffix: String) -> String? {
        guard k < current.input.count else { return nil }
        let name = current.input[k]
        guard name.hasSuffix("." + suffix), isPlainName(name) else { return nil }
        let prefix = String(name.dropLast(suffix.count + 1))
        return prefix.isEmpty ? nil : prefix
    }

    /// A name for messages: the ONNX node's name, or its position and first output.
    var displayName: String {
        if !current.name.isEmpty { return current.name }
        return "#\(currentIndex)" + (current.output.first.map { " -> \($0)" } ?? "")
    }
}

/// Whether `name` can serve as a Pare node name: no path separators or exporter-made
/// `::` names, no spaces.
func isPlainName(_ name: String) -> Bool {
    !name.isEmpty && !name.contains("/") && !name.contains(":") && !name.contains(where: \.isWhitespace)
}

/// The module path in a TorchScript exporter node name: `/layer1/layer1.0/conv1/Conv` gives
/// `layer1.0.conv1`, `/layer4/layer4.0/downsample/downsample.0/Conv` gives
/// `layer4.0.downsample.0`. A scope is the child's name in its parent, where the children of
/// a `Sequential` are written `parent.index`: such a scope extends the previous one.
func torchModulePath(_ nodeName: String) -> String? {
    guard nodeName.hasPrefix("/") else { return nil }
    let scopes = nodeName.split(separator: "/").dropLast().map(String.init)
    var path = ""
    var previous = ""
    for scope in scopes {
        if path.isEmpty {
            path = scope
        } else if scope.hasPrefix(previous + ".") {
            path += scope.dropFirst(previous.count)
        } else {
            path += "." + scope
        }
        previous = scope
    }
    return path.isEmpty ? nil : path
}
