import PareCore

/// Why ``ONNXImport`` could not turn an ONNX file into a ``Graph``: which file, and what.
public struct ONNXImportError: Error, CustomStringConvertible, Equatable {
    public var file: String
    public var problem: Problem

    public init(file: String, problem: Problem) {
        self.file = file
        self.problem = problem
    }

    public enum Problem: Equatable, Sendable {
        /// The bytes are not an ONNX `ModelProto` (truncated, or not ONNX at all).
        case unreadable(reason: String)
        /// A well-formed protobuf that is not a valid ONNX model (no graph, a value used
        /// before it is defined, tensor data that does not fit its shape, ...).
        case invalidModel(reason: String)
        /// The model imports no `ai.onnx` opset this importer reads.
        case unsupportedOpset(found: Int?)
        /// A node whose operator the importer does not know.
        case unsupportedOperator(node: String, opType: String, domain: String, opset: Int)
        /// A known operator used in a form Pare's graph cannot express (a 3-D convolution,
        /// a reshape that is neither a flatten nor a channel shuffle, ...).
        case unsupportedUse(node: String, opType: String, reason: String)
        /// The translated graph fails Pare's validation.
        case invalidGraph(GraphError)
    }

    public var description: String { "\(file): \(problemDescription)" }

    private var problemDescription: String {
        switch problem {
        case let .unreadable(reason):
            return "not a readable ONNX model (\(reason))"
        case let .invalidModel(reason):
            return "invalid ONNX model: \(reason)"
        case let .unsupportedOpset(found):
            let version = found.map { "opset \($0)" } ?? "no ai.onnx opset"
            return "\(version) is not supported; the importer reads ai.onnx opsets "
                + "\(ONNXImport.supportedOpsets.lowerBound) to \(ONNXImport.supportedOpsets.upperBound)"
        case let .unsupportedOperator(node, opType, domain, opset):
            let qualified = domain.isEmpty || domain == "ai.onnx" ? opType : "\(domain).\(opType)"
            return "node '\(node)': operator \(qualified) (opset \(opset)) is not supported. Supported operators: "
                + ONNXImport.supportedOperators.joined(separator: ", ")
        case let .unsupportedUse(node, opType, reason):
            return "node '\(node)' (\(opType)): \(reason)"
        case let .invalidGraph(error):
            return "the imported graph is invalid: \(error)"
        }
    }
}
