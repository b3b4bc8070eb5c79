import Foundation
import PareCore
import SwiftProtobuf

/// How ``ONNXImport`` reads a model.
public struct ONNXImportOptions: Sendable, Equatable {
    /// The per-sample input shape (`[C, H, W]`), for a model whose file leaves a dimension
    /// other than the batch symbolic; it replaces the file's shape. nil: the file's.
    public var input: Shape?

    public init(input: Shape? = nil) {
        self.input = input
    }
}

/// Reads an ONNX model of a CNN into a ``Graph``: the inverse of ``ONNXExport``, and a
/// translator for files written by `torch.onnx.export` (the TorchScript and the dynamo
/// exporter) and other tools.
///
/// The translation is op for op, with the patterns exporters write folded back into Pare ops:
/// - subgraphs of initializers, `Constant` and `Shape` of activations (the
///   `Shape`/`Gather`/`Unsqueeze`/`Concat` chains that compute reshape targets) are evaluated
///   at import time, with the batch size kept as a symbol;
/// - `Reshape [N, g, C/g, H, W]` + `Transpose [0, 2, 1, 3, 4]` + `Reshape [N, C, H, W]` is a
///   `channelShuffle`; `Reshape`/`Flatten` to `[N, -1]` a `flatten`; `Split` and `Slice` on
///   the channel axis are `channelSlice`s; `ReduceMean` over H and W a `globalAvgPool`;
/// - `Pad` (zeros, spatial) is folded into the following `Conv` or `AveragePool`;
/// - `Mul`/`Add`/`Sub`/`Div` by per-channel constants fold into the batch norm before them
///   (or become one), and an `Add` after `MatMul` or `Conv` becomes their bias;
/// - `Gemm` (any `transB`, `alpha`, `beta`) and `MatMul` by a constant are `linear`;
/// - `Clip(0, 6)` is `relu6`, `x * HardSigmoid(x)` is `hardSwish`; `Identity` and `Dropout`
///   are removed (the model is read in evaluation form).
///
/// Parameter names: a layer whose weight initializer is named like a state-dict entry
/// (`layer1.0.conv1.weight`) takes that prefix as its name; otherwise the module path in a
/// TorchScript node name (`/layer1/layer1.0/conv1/Conv` gives `layer1.0.conv1`), else the
/// node's own name when it is a plain name, else an automatic `kind_index`. Batch norms get
/// `num_batches_tracked` = 0. The ONNX model's metadata properties become the graph's
/// metadata; `source` records where the model came from when the file does not say.
public enum ONNXImport {
    /// The `ai.onnx` opsets the importer reads. In opset 6, an operator whose form differs
    /// from opset 7's (`is_test` of BatchNormalization and Dropout, `broadcast`/`axis` of Add,
    /// Sub, Mul, Div and Gemm) is read where it means the same, and refused, naming the
    /// attribute, where it does not.
    public static let supportedOpsets: ClosedRange<Int> = 6...23

    /// The operators the importer translates, for error messages and `--help`.
    public static var supportedOperators: [String] {
        let layers = ONNXGraphTranslator.operators
        let folding = ConstantFolding.operators.subtracting(layers).map { "\($0) (on constants)" }
        return (Array(layers) + folding).sorted()
    }

    /// Reads the ONNX file at `url`.
    public static func read(from url: URL, options: ONNXImportOptions = ONNXImportOptions()) throws -> Graph {
        let data: Data
        do {
            data = try fileContents(url)
        } catch {
            throw ONNXImportError(file: url.path, problem: .unreadable(reason: "cannot read the file: \(error.localizedDescription)"))
        }
        return try graph(from: data, source: url.path, options: options)
    }

    /// The graph of a serialized ONNX `ModelProto`. `source` names the file in errors.
    public static func graph(from data: Data, source: String = "<memory>",
                             options: ONNXImportOptions = ONNXImportOptions()) throws -> Graph {
        let model: Onnx_ModelProto
        do {
            model = try Onnx_ModelProto(serializedBytes: data)
        } catch {
            throw ONNXImportError(file: source, problem: .unreadable(reason: "protobuf decoding failed: \(error); is the file complete?"))
        }
        var translator = ONNXGraphTranslator(model: model, source: source, options: options,
                                             foldLimit: ConstantFolding.foldLimit(fileBytes: data.count))
        return try translator.translate()
    }
}
