import ArgumentParser
import Foundation
import PareAnalysis
import PareCore
import PareData
import PareIO
import PareModels

extension Pare {
    struct Import: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Turn an ONNX model or a PyTorch state dict into a native Pare model file.",
            discussion: """
                Two forms:

                  pare import model.onnx --out model.safetensors [--input CxHxW]
                    Translates an ONNX CNN (from torch.onnx.export, TorchScript or dynamo exporter, \
                or another tool) op for op into a Pare graph with its weights. Shape arithmetic \
                over initializers is folded; Pad is folded into the next Conv, Mul/Add by \
                per-channel constants into the batch norm before them, Reshape/Transpose channel \
                shuffles become channelShuffle, Split/Slice on channels channelSlice; Dropout and \
                Identity are dropped (the model is read in evaluation form). Layers keep the \
                state-dict names of their initializers (layer1.0.conv1.weight) or of TorchScript \
                node names. An unsupported operator is an error naming the node, its operator and \
                opset, with the list of supported operators.

                  pare import weights.safetensors --model resnet18 --out model.safetensors \
                [--classes N] [--input CxHxW] [--width-multiplier W]
                    Loads a PyTorch state dict saved with \
                safetensors.torch.save_file(model.state_dict(), path) into the zoo model of the \
                same architecture (torchvision names). Names and shapes are checked; a mismatch \
                lists every missing, unexpected and mis-shaped key. num_batches_tracked entries \
                are kept (0 when absent).

                The result is an ordinary Pare model: `pare summary`, `pare run`, `pare bench` and \
                `pare export` take it.
                """)

        @Argument(help: ArgumentHelp("An .onnx model, or a .safetensors state dict (with --model).", valueName: "IN"))
        var file: String
        @Option(help: ArgumentHelp("Native model file to write.", valueName: "FILE.safetensors")) var out: String
        @Option(help: "Zoo model the state dict belongs to (`pare zoo` lists them); state dicts only.") var model: String?
        @Option(help: "Classes of the zoo model (default: the model's); state dicts only.") var classes: Int?
        @Option(help: "Width multiplier of the zoo model (mobilenet_v2, mobilenet_v2-cifar, mobilenet_v3_large, mobilenet_v3_small, smallcnn); state dicts only.")
        var widthMultiplier: Double?
        @Option(help: """
            Per-sample input shape CxHxW: for a zoo model (default: the model's), or for an ONNX model \
            whose file leaves H or W symbolic.
            """, transform: parseInputShape)
        var input: Shape?
        @Option(help: """
            Image preprocessing `pare run` applies to this model, stored in its metadata under \
            `preprocess`: e.g. "resize=256 crop=224 normalize=imagenet" (see `pare run --help`).
            """)
        var preprocess: String?
        @Option(help: ArgumentHelp("Class names, one per line, stored in the metadata under `labels` for `pare run`.",
                                   valueName: "FILE"))
        var labels: String?

        var isONNX: Bool { model == nil }

        func validate() throws {
            if isONNX {
                if classes != nil || widthMultiplier != nil {
                    throw ValidationError("--classes and --width-multiplier apply to state dicts, which need --model")
                }
                if file.hasSuffix(".safetensors") {
                    throw ValidationError("\(file) looks like a state dict; name its zoo model with --model NAME")
                }
            }
            if let classes, classes <= 0 { throw ValidationError("--classes must be positive") }
            if let widthMultiplier, !(widthMultiplier > 0) { throw ValidationError("--width-multiplier must be positive") }
            if let preprocess { _ = try ImagePreprocessing(parsing: preprocess) }
        }

        func run() throws {
            var graph: Graph
            if let model {
                let entry = try Zoo.entry(model)
                let structure = try entry.build(ZooOptions(classes: classes, input: input, widthMultiplier: widthMultiplier,
                                                           withParameters: false))
                var loaded = try StateDict.load(from: URL(fileURLWithPath: file), into: structure)
                loaded.metadata["source"] = "PyTorch state dict \(URL(fileURLWithPath: file).lastPathComponent)"
                graph = loaded
            } else {
                graph = try ONNXImport.read(from: URL(fileURLWithPath: file), options: ONNXImportOptions(input: input))
            }
            if let preprocess { graph.metadata[ImagePreprocessing.metadataKey] = preprocess }
            if let labels {
                let names = try String(contentsOfFile: labels, encoding: .utf8).split(separator: "\n").map {
                    $0.trimmingCharacters(in: .whitespaces)
                }.filter { !$0.isEmpty }
                let output = try graph.inferShapes()[graph.outputs[0]]
                guard output.rank == 1, output[0] == names.count else {
                    throw ValidationError("\(labels) has \(names.count) class names; the model's output is [\(output)]")
                }
                let encoded = try JSONEncoder().encode(names)
                graph.metadata["labels"] = String(decoding: encoded, as: UTF8.self)
            }
            try ModelFile.save(graph, to: URL(fileURLWithPath: out))
            let parameterCount = try graph.trainableParameterCount()
            let inputs = graph.inputIndices.compactMap { index -> String? in
                if case let .input(shape) = graph.nodes[index].op { return shape.description }
                return nil
            }
            print("imported \(file): \(graph.nodes.count) nodes, \(groupedDigits(parameterCount)) parameters, "
                  + "input \(inputs.joined(separator: ", ")); wrote \(out)")
        }
    }
}
