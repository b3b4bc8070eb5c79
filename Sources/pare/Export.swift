import ArgumentParser
import Foundation
import PareCore
import PareIO
import PareModels

extension Pare {
    struct Export: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write a model as ONNX or as a PyTorch state dict.",
            discussion: """
                MODEL is a zoo name (seeded initial weights, --seed) or a native .safetensors model \
                file. Give --onnx, --safetensors-state-dict or both.

                --onnx writes a standard ONNX model in evaluation form: initializers keep the \
                state-dict names, the input is `input` [N, C, H, W], the output `output`, where N is \
                the symbolic dimension `batch` (any batch size) unless --static-batch fixes it; \
                `pare import` reads it back.

                --safetensors-state-dict writes the parameters alone, under their state-dict names, \
                as safetensors.torch.save_file does: for a zoo model, \
                model.load_state_dict(safetensors.torch.load_file(OUT)) loads it into the matching \
                torchvision model (batch norms include num_batches_tracked, int64, as torch expects).
                """)

        @Argument(help: "Zoo model name or .safetensors model file.") var model: String
        @Option(help: ArgumentHelp("Write an ONNX model to this path.", valueName: "OUT.onnx")) var onnx: String?
        @Option(help: ArgumentHelp("Write the parameters as a PyTorch state dict (safetensors) to this path.",
                                   valueName: "OUT.safetensors"))
        var safetensorsStateDict: String?
        @Option(help: "ONNX opset (\(ONNXExportOptions.supportedOpsets.lowerBound)-\(ONNXExportOptions.supportedOpsets.upperBound)).")
        var opset = ONNXExportOptions.defaultOpset
        @Option(help: ArgumentHelp("Write a fixed batch size N for the ONNX input and output instead of the symbolic `batch`.",
                                   valueName: "N"))
        var staticBatch: Int?
        @Option(help: "Input shape CxHxW for zoo models (default: the model's).") var input: String?
        @Option(help: "Number of classes for zoo models (default: the model's).") var classes: Int?
        @Option(help: "Seed of a zoo model's initial weights.") var seed: UInt64 = 0

        func validate() throws {
            guard onnx != nil || safetensorsStateDict != nil else {
                throw ValidationError("nothing to write: give --onnx OUT.onnx and/or --safetensors-state-dict OUT.safetensors")
            }
            guard ONNXExportOptions.supportedOpsets.contains(opset) else {
                throw ValidationError(ONNXExportError.unsupportedOpset(opset).description)
            }
            if let staticBatch, staticBatch <= 0 { throw ValidationError("--static-batch must be positive, got \(staticBatch)") }
            if let input { _ = try parseInputShape(input) }
            if let classes, classes <= 0 { throw ValidationError("--classes must be positive") }
        }

        func run() throws {
            let graph = try ModelReference(text: model).graph(input: try input.map(parseInputShape), classes: classes,
                                                              withParameters: true, seed: seed)
            if let onnx {
                let url = URL(fileURLWithPath: onnx)
                try ONNXExport.write(graph, to: url, options: ONNXExportOptions(opset: opset, staticBatch: staticBatch))
                let batchText = staticBatch.map { "batch \($0)" } ?? "dynamic batch"
                print("wrote \(onnx): ONNX opset \(opset), \(batchText), \(graph.nodes.count) nodes, \(fileSize(url)) bytes")
            }
            if let safetensorsStateDict {
                let url = URL(fileURLWithPath: safetensorsStateDict)
                try StateDict.write(graph, to: url)
                print("wrote \(safetensorsStateDict): state dict of \(graph.parameters.count) tensors, \(fileSize(url)) bytes")
            }
        }

        private func fileSize(_ url: URL) -> Int {
            (try? FileManager.default.attributesOfItem(atPath: url.path)[.size] as? Int) ?? 0
        }
    }
}
