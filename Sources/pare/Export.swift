import ArgumentParser
import Foundation
import PareCore
import PareIO
import PareModels

extension Pare {
    struct Export: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write a model in another format (ONNX).",
            discussion: """
                MODEL is a zoo name (seeded initial weights) or a native .safetensors model file. \
                --onnx writes a standard ONNX model in evaluation form: initializers keep the \
                state-dict names, the input is `input` [N, C, H, W], the output `output`.
                """)

        @Argument(help: "Zoo model name or .safetensors model file.") var model: String
        @Option(help: ArgumentHelp("Write an ONNX model to this path.", valueName: "OUT.onnx")) var onnx: String
        @Option(help: "ONNX opset (\(ONNXExportOptions.supportedOpsets.lowerBound)-\(ONNXExportOptions.supportedOpsets.upperBound)).")
        var opset = ONNXExportOptions.defaultOpset
        @Flag(help: "Make the batch dimension symbolic (`batch`) instead of --batch.") var dynamicBatch = false
        @Option(help: "Fixed batch size of the input and output (without --dynamic-batch).") var batch = 1
        @Option(help: "Input shape CxHxW for zoo models (default: the model's).") var input: String?
        @Option(help: "Number of classes for zoo models (default: the model's).") var classes: Int?
        @Option(help: "Seed of a zoo model's initial weights.") var seed: UInt64 = 0

        func validate() throws {
            guard ONNXExportOptions.supportedOpsets.contains(opset) else {
                throw ValidationError(ONNXExportError.unsupportedOpset(opset).description)
            }
            guard batch > 0 else { throw ValidationError("--batch must be positive") }
            if let input { _ = try parseInputShape(input) }
            if let classes, classes <= 0 { throw ValidationError("--classes must be positive") }
        }

        func run() throws {
            let graph = try ModelReference(text: model).graph(input: try input.map(parseInputShape), classes: classes,
                                                              withParameters: true, seed: seed)
            let url = URL(fileURLWithPath: onnx)
            try ONNXExport.write(graph, to: url, options: ONNXExportOptions(opset: opset, dynamicBatch: dynamicBatch,
                                                                          batch: batch))
            let size = (try? FileManager.default.attributesOfItem(atPath: url.path)[.size] as? Int) ?? 0
            print("wrote \(onnx): ONNX opset \(opset), \(graph.nodes.count) nodes, \(size) bytes")
        }
    }
}
