import Foundation
import PareCore

/// PyTorch state dicts in safetensors files (`safetensors.torch.save_file(model.state_dict(), path)`
/// and `model.load_state_dict(safetensors.torch.load_file(path))`).
///
/// A Pare graph's parameters already carry state-dict names (`layer1.0.conv1.weight`), so a
/// torchvision state dict loads into the zoo model of the same architecture by name, and a
/// graph's parameters are a state dict torch loads strictly (batch norms include
/// `num_batches_tracked`, an int64 scalar, as torch registers it).
public enum StateDict {
    /// The `__metadata__` that `safetensors.torch.save_file` writes and that this type writes.
    public static let metadata = ["format": "pt"]

    /// `graph` with its parameters taken from `tensors` (a state dict): every parameter the
    /// graph's architecture needs must be there with its shape and dtype, and nothing else.
    /// `num_batches_tracked` may be missing (older PyTorch did not save it): it is then 0.
    /// Throws a ``StateDictError`` listing every missing, unexpected and mis-shaped key.
    /// `source` names the state dict in errors.
    public static func load(_ tensors: [String: Tensor], into graph: Graph, source: String = "<memory>") throws -> Graph {
        var missing: [String] = []
        var wrongShape: [ModelFileError.ParameterMismatch] = []
        var parameters: [String: Tensor] = [:]
        for (name, _, spec) in try graph.parameterSpecs() {
            guard let tensor = tensors[name] else {
                if spec.role == .batchCount {
                    parameters[name] = Tensor(zeros: spec.shape, dtype: spec.dtype)
                } else {
                    missing.append(name)
                }
                continue
            }
            guard tensor.shape == spec.shape, tensor.dtype == spec.dtype else {
                wrongShape.append(.init(name: name, expected: "\(spec.dtype.rawValue) [\(spec.shape)]",
                                        found: "\(tensor.dtype.rawValue) [\(tensor.shape)]"))
                continue
            }
            parameters[name] = tensor
        }
        let mismatched = Set(wrongShape.map(\.name))
        let unexpected = tensors.keys.filter { parameters[$0] == nil && !mismatched.contains($0) }.sorted()
        if !missing.isEmpty || !unexpected.isEmpty || !wrongShape.isEmpty {
            throw StateDictError(file: source, model: graph.metadata["model"],
                                 missing: missing, unexpected: unexpected, wrongShape: wrongShape)
        }
        var result = graph
        result.parameters = parameters
        try result.validate()
        return result
    }

    /// Reads the state dict at `url` and loads it into `graph` (see ``load(_:into:source:)``).
    public static func load(from url: URL, into graph: Graph) throws -> Graph {
        try load(SafetensorsFile.read(from: url).tensors, into: graph, source: url.path)
    }

    /// Writes `graph`'s parameters as a plain state dict (no Pare architecture), atomically.
    public static func write(_ graph: Graph, to url: URL) throws {
        try graph.validate()
        try SafetensorsFile(tensors: graph.parameters, metadata: metadata).write(to: url)
    }
}

/// A state dict whose keys or shapes differ from the model's parameters: every difference.
public struct StateDictError: Error, CustomStringConvertible, Equatable {
    public var file: String
    /// The model loaded into (its `model` metadata), when known.
    public var model: String?
    /// Parameters the model needs that the state dict lacks.
    public var missing: [String]
    /// Keys of the state dict that are no parameter of the model.
    public var unexpected: [String]
    public var wrongShape: [ModelFileError.ParameterMismatch]

    /// How many names of each kind the description lists.
    static let listed = 40

    public var description: String {
        func list(_ names: [String]) -> String {
            names.prefix(Self.listed).joined(separator: ", ")
                + (names.count > Self.listed ? " (and \(names.count - Self.listed) more)" : "")
        }
        var parts: [String] = []
        if !missing.isEmpty { parts.append("missing keys (\(missing.count)): \(list(missing))") }
        if !unexpected.isEmpty { parts.append("unexpected keys (\(unexpected.count)): \(list(unexpected))") }
        if !wrongShape.isEmpty { parts.append("shape or dtype mismatches (\(wrongShape.count)): \(list(wrongShape.map(\.description)))") }
        var text = "\(file): the state dict does not match " + (model.map { "model '\($0)'" } ?? "the model") + ":\n  "
            + parts.joined(separator: "\n  ")
        if let prefix = commonPrefix(unexpected), missing.contains(where: { unexpected.contains(prefix + $0) }) {
            text += "\n  hint: the unexpected keys start with '\(prefix)' (saved from a wrapper such as DataParallel); "
                + "save the inner module's state dict"
        } else if !wrongShape.isEmpty {
            text += "\n  hint: check --classes, --input and the width of the model the weights were trained with"
        }
        return text
    }

    /// `module.` or another first path component shared by every name, if any.
    private func commonPrefix(_ names: [String]) -> String? {
        guard let first = names.first, let dot = first.firstIndex(of: ".") else { return nil }
        let prefix = String(first[...dot])
        return names.allSatisfy { $0.hasPrefix(prefix) } ? prefix : nil
    }
}
