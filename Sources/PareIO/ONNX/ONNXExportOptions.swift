/// How ``ONNXExport`` writes a model.
public struct ONNXExportOptions: Sendable, Equatable {
    /// The opsets the exporter writes. 14 is the first with `HardSwish` (and `Clip` taking
    /// its bounds as inputs); 21 is the last one the exporter's ops have been checked against.
    public static let supportedOpsets: ClosedRange<Int> = 14...21

    /// The default ONNX opset (`ai.onnx` domain).
    public static let defaultOpset = 17

    /// The `ai.onnx` opset version to declare. Must be in ``supportedOpsets``.
    public var opset: Int
    /// The batch size written as the first dimension of every graph input and output; nil
    /// (the default) writes the symbolic dimension `batch`, so the model runs at any batch size.
    public var staticBatch: Int?

    public init(opset: Int = ONNXExportOptions.defaultOpset, staticBatch: Int? = nil) {
        self.opset = opset
        self.staticBatch = staticBatch
    }

    /// The IR version that goes with ``opset`` (ONNX's `docs/Versioning.md` table): the oldest
    /// IR that knows the opset, so older runtimes can still load the file.
    var irVersion: Int64 {
        switch opset {
        case ...14: return 7
        case 15...18: return 8
        case 19...20: return 9
        case 21...22: return 10
        default: return 11
        }
    }
}
