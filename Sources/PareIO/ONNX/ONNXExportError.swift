/// Why ``ONNXExport`` could not write a model.
public enum ONNXExportError: Error, CustomStringConvertible, Equatable {
    /// The requested opset is outside ``ONNXExportOptions/supportedOpsets``.
    case unsupportedOpset(Int)
    /// The batch size is not positive.
    case invalidBatch(Int)
    /// The graph is not valid (see ``Graph/validate()``); the reason names the node.
    case invalidGraph(String)
    /// Writing the file failed.
    case writeFailed(file: String, reason: String)

    public var description: String {
        switch self {
        case let .unsupportedOpset(opset):
            let range = ONNXExportOptions.supportedOpsets
            return "ONNX opset \(opset) is not supported; the exporter writes opsets "
                + "\(range.lowerBound) to \(range.upperBound) (default \(ONNXExportOptions.defaultOpset))"
        case let .invalidBatch(batch):
            return "ONNX export: batch size must be positive, got \(batch)"
        case let .invalidGraph(reason):
            return "cannot export an invalid graph: \(reason)"
        case let .writeFailed(file, reason):
            return "cannot write \(file): \(reason)"
        }
    }
}
