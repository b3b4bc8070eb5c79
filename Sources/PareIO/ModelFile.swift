import Foundation
import PareCore

/// Pare's native model file: one `.safetensors` file holding a ``Graph`` and its weights.
///
/// The tensors are the graph's parameters under their state-dict names, so PyTorch users can
/// open the weights with the `safetensors` package. The header's `__metadata__` holds:
/// - `pare.format`: the format version, ``formatVersion``;
/// - `pare.graph`: the architecture, `{"nodes": [...], "outputs": [...]}` with nodes in
///   ``Node``'s JSON form;
/// - `pare.meta.<key>`: each entry of the graph's `metadata`.
///
/// Other metadata keys (a PyTorch `"format": "pt"`, say) are ignored on load, and so are
/// tensors under ``trainingStatePrefix``: a training checkpoint is a model file with its
/// optimizer state added, and loads as a model.
public enum ModelFile {
    /// The version written to `pare.format`, and the only one ``load(from:)`` reads.
    public static let formatVersion = "1"
    public static let formatKey = "pare.format"
    public static let graphKey = "pare.graph"
    /// Prefix of the keys that hold the graph's own metadata.
    public static let metadataPrefix = "pare.meta."
    /// Prefix of the tensors that hold a checkpoint's optimizer state, not parameters.
    public static let trainingStatePrefix = "optimizer/"

    /// Validates `graph` and writes it with its weights to `url`, atomically.
    public static func save(_ graph: Graph, to url: URL) throws {
        try encode(graph, source: url.path).write(to: url)
    }

    /// Reads a model written by ``save(_:to:)``, checking that its tensors are exactly the
    /// parameters its architecture needs.
    public static func load(from url: URL) throws -> Graph {
        try decode(SafetensorsFile.read(from: url), source: url.path)
    }

    /// The safetensors contents for `graph` (its tensors are shared, not copied). `source`
    /// names the destination in errors.
    public static func encode(_ graph: Graph, source: String = "<memory>") throws -> SafetensorsFile {
        do {
            try graph.validate()
        } catch let error as GraphError {
            throw ModelFileError(file: source, problem: .invalidGraph(error))
        }
        return SafetensorsFile(tensors: graph.parameters, metadata: try headerMetadata(graph))
    }

    /// `file` (a model file's contents) with every f32 model tensor stored in `dtype` (`f16` or
    /// `bf16`): half the bytes, rounded to nearest. ``decode(_:source:)`` reads them back into
    /// f32, so the model computes in f32 with weights rounded once. The 8-bit weights and
    /// scales of an int8 model and any training state are left as they are.
    public static func halfPrecision(_ file: SafetensorsFile, dtype: DType) throws -> SafetensorsFile {
        guard dtype == .f16 || dtype == .bf16 else {
            throw ModelFileError(file: "<memory>", problem: .invalidArchitecture(reason: "half precision is f16 or bf16, not \(dtype.rawValue)"))
        }
        var result = file
        for (name, tensor) in file.tensors where tensor.dtype == .f32 && !name.hasPrefix(trainingStatePrefix)
            && !name.hasSuffix(".weight_scale") {
            result.tensors[name] = try tensor.converted(to: dtype)
        }
        result.metadata[metadataPrefix + "weights"] = "\(dtype.rawValue) (computed in f32)"
        return result
    }

    /// The size in bytes of the file ``save(_:to:)`` writes for `graph`, computed from its
    /// architecture alone: the graph need not have parameters (a structure-only zoo build),
    /// its parameter specs give every tensor's dtype and shape.
    public static func encodedByteCount(_ graph: Graph) throws -> Int {
        var tensors: [String: TensorDescription] = [:]
        for (name, _, spec) in try graph.parameterSpecs() {
            tensors[name] = TensorDescription(dtype: spec.dtype, shape: spec.shape)
        }
        return try SafetensorsFile.encodedByteCount(tensors: tensors, metadata: headerMetadata(graph))
    }

    /// The `__metadata__` entries written for `graph`: format, architecture, its metadata.
    private static func headerMetadata(_ graph: Graph) throws -> [String: String] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let architecture = try encoder.encode(Architecture(nodes: graph.nodes, outputs: graph.outputs))
        var metadata = [formatKey: formatVersion, graphKey: String(decoding: architecture, as: UTF8.self)]
        for (key, value) in graph.metadata { metadata[metadataPrefix + key] = value }
        return metadata
    }

    /// The graph in safetensors contents written by ``encode(_:source:)``. `source` names the
    /// file in errors.
    public static func decode(_ file: SafetensorsFile, source: String = "<memory>") throws -> Graph {
        func failure(_ problem: ModelFileError.Problem) -> ModelFileError {
            ModelFileError(file: source, problem: problem)
        }
        guard let json = file.metadata[graphKey] else {
            throw failure(.plainStateDict(tensorCount: file.tensors.count))
        }
        guard file.metadata[formatKey] == formatVersion else {
            throw failure(.unsupportedFormat(found: file.metadata[formatKey]))
        }
        let architecture: Architecture
        do {
            architecture = try JSONDecoder().decode(Architecture.self, from: Data(json.utf8))
        } catch {
            throw failure(.invalidArchitecture(reason: describeDecodingError(error)))
        }
        var metadata: [String: String] = [:]
        for (key, value) in file.metadata where key.hasPrefix(metadataPrefix) {
            metadata[String(key.dropFirst(metadataPrefix.count))] = value
        }
        // Half-precision weights (``halfPrecision(_:dtype:)``) are computed in f32.
        var parameters: [String: Tensor] = [:]
        for (name, tensor) in file.tensors where !name.hasPrefix(trainingStatePrefix) {
            parameters[name] = tensor.dtype == .f16 || tensor.dtype == .bf16 ? try tensor.converted(to: .f32) : tensor
        }
        let graph = Graph(nodes: architecture.nodes, outputs: architecture.outputs, parameters: parameters, metadata: metadata)
        do {
            try graph.validate()
        } catch let error as GraphError {
            // validate() stops at the first bad parameter; report them all.
            if let mismatch = try? parameterMismatch(graph) { throw failure(mismatch) }
            throw failure(.invalidGraph(error))
        }
        return graph
    }

    /// Every missing, unexpected and mis-shaped parameter, or nil if they all match.
    private static func parameterMismatch(_ graph: Graph) throws -> ModelFileError.Problem? {
        var missing: [String] = []
        var wrongShape: [ModelFileError.ParameterMismatch] = []
        var expected = Set<String>()
        for (name, _, spec) in try graph.parameterSpecs() {
            expected.insert(name)
            guard let tensor = graph.parameters[name] else {
                missing.append(name)
                continue
            }
            if tensor.shape != spec.shape || tensor.dtype != spec.dtype {
                wrongShape.append(.init(name: name, expected: "\(spec.dtype.rawValue) [\(spec.shape)]",
                                        found: "\(tensor.dtype.rawValue) [\(tensor.shape)]"))
            }
        }
        let unexpected = graph.parameters.keys.filter { !expected.contains($0) }.sorted()
        if missing.isEmpty && unexpected.isEmpty && wrongShape.isEmpty { return nil }
        return .parametersMismatch(missing: missing, unexpected: unexpected, wrongShape: wrongShape)
    }

    /// The JSON under `pare.graph`.
    private struct Architecture: Codable {
        var nodes: [Node]
        var outputs: [Int]
    }
}
