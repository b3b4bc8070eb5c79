import ArgumentParser
import Foundation
import PareCore
import PareData
import PareIO

extension Pare {
    struct Run: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run a model in evaluation mode on a tensor or on images; save the output.",
            discussion: """
                MODEL is a zoo name (its seeded initial weights: --seed, default 0, so the same command \
                always gives the same model) or a native .safetensors model file (`pare import` makes \
                one from ONNX or a PyTorch state dict).

                --input is either one .safetensors file holding the tensor `input` (f32, batch first, \
                e.g. [N, 3, 224, 224]; a zoo model is built for its shape), or one or more PNG/JPEG \
                files (one sample each). Images are resized, scaled to [0, 1] and normalised as the \
                model's metadata key `\(ImagePreprocessing.metadataKey)` says (--preprocess overrides), \
                e.g. "resize=256 crop=224 normalize=imagenet" or "resize=32x32 mean=0.5 std=0.25". \
                Without it: square inputs of 64 pixels or more get torchvision's ImageNet evaluation \
                transform (shorter side to H*256/224, centre crop, ImageNet mean/std: resize 256 and \
                crop 224 for 224x224), smaller ones are resized to HxW and normalised with CIFAR-10's \
                statistics (Fashion-MNIST's for one channel).

                The outputs are written to OUT under `output` (`output_0`, `output_1`, ... for several). \
                For a classifier ([N, classes] output) the top classes of each sample are printed with \
                their softmax probabilities, named from the metadata key `labels` (a JSON array) when \
                the model has one.
                """)

        @Argument(help: "Zoo model name or .safetensors model file.") var model: String
        @Option(name: .customLong("input"), help: ArgumentHelp(
            "A .safetensors file with the tensor `input`, or a PNG/JPEG image (repeat for a batch).",
            valueName: "IN"))
        var inputs: [String] = []
        @Option(help: ArgumentHelp("Where to write the output tensor(s).", valueName: "OUT.safetensors")) var out: String
        @Option(help: "Seed of a zoo model's initial weights.") var seed: UInt64 = 0
        @Option(help: "Classes of a zoo model (default: the model's).") var classes: Int?
        @Option(help: "Image preprocessing, replacing the model's (see above).") var preprocess: String?
        @Option(help: "How many classes to print per sample.") var top = 5
        @Option(help: "Threads for oneDNN's OpenMP runtime.") var threads = 2

        func validate() throws {
            guard !inputs.isEmpty else { throw ValidationError("give --input IN (a .safetensors tensor or images)") }
            let tensorFiles = inputs.filter { $0.hasSuffix(".safetensors") }
            if !tensorFiles.isEmpty && inputs.count > 1 {
                throw ValidationError("--input takes one .safetensors file, or image files; not both or several tensors")
            }
            guard top >= 0, threads > 0 else { throw ValidationError("--top must be non-negative and --threads positive") }
            if let classes, classes <= 0 { throw ValidationError("--classes must be positive") }
            if let preprocess { _ = try ImagePreprocessing(parsing: preprocess) }
        }

        func run() throws {
            let reference = ModelReference(text: model)
            let graph: Graph
            let input: Tensor
            var sampleNames: [String] = []
            if inputs[0].hasSuffix(".safetensors") {
                input = try readInputTensor(inputs[0])
                graph = try reference.graph(input: input.shape.droppingFirst, classes: classes, withParameters: true, seed: seed)
                sampleNames = (0..<input.shape[0]).map { "\(inputs[0])[\($0)]" }
            } else {
                graph = try reference.graph(input: nil, classes: classes, withParameters: true, seed: seed)
                guard graph.inputShapes.count == 1, graph.inputShapes[0].rank == 3 else {
                    throw CommandError("\(model) takes \(graph.inputShapes.map { "[\($0)]" }.joined(separator: ", ")); images feed one [C, H, W] input")
                }
                let shape = graph.inputShapes[0]
                let preprocessing = try preprocess.map(ImagePreprocessing.init(parsing:))
                    ?? graph.metadata[ImagePreprocessing.metadataKey].map(ImagePreprocessing.init(parsing:))
                    ?? ImagePreprocessing.standard(for: shape)
                input = Tensor(zeros: shape.prepending(inputs.count))
                for (k, path) in inputs.enumerated() {
                    let sample = try preprocessing.apply(try ImageDecoder.decode(file: path), channels: shape[0])
                    guard sample.shape == shape else {
                        throw CommandError("preprocessing '\(preprocessing)' makes [\(sample.shape)] from \(path); the model takes [\(shape)]")
                    }
                    input.floats.baseAddress!.advanced(by: k * shape.elementCount)
                        .update(from: sample.floats.baseAddress!, count: shape.elementCount)
                }
                sampleNames = inputs
                print("preprocessing: \(preprocessing)")
            }

            let executor = try DNNLExecutor(graph: graph, batchSize: input.shape[0], mode: .inference,
                                            configuration: ExecutorConfiguration(threads: threads))
            let outputs = try executor.forward([input])
            var tensors: [String: Tensor] = [:]
            for (k, output) in outputs.enumerated() { tensors[outputs.count == 1 ? "output" : "output_\(k)"] = output.copy() }
            try SafetensorsFile(tensors: tensors).write(to: URL(fileURLWithPath: out))
            let shapes = outputs.map { "[\($0.shape.dimensions.map(String.init).joined(separator: ", "))]" }
            print("ran \(model) on \(input.shape[0]) sample(s) of [\(input.shape.droppingFirst)]; wrote \(shapes.joined(separator: ", ")) to \(out)")

            for (k, output) in outputs.enumerated() where top > 0 && output.shape.rank == 2 && output.shape[1] >= 2 {
                var isProbability = false
                if case .softmax = graph.nodes[graph.outputs[k]].op { isProbability = true }
                printTopClasses(output, alreadyProbabilities: isProbability, labels: labels(graph, classes: output.shape[1]),
                                sampleNames: sampleNames, title: outputs.count == 1 ? nil : "output_\(k)")
            }
        }

        private func readInputTensor(_ path: String) throws -> Tensor {
            let file = try SafetensorsFile.read(from: URL(fileURLWithPath: path))
            guard let tensor = file.tensors["input"] else {
                throw CommandError("\(path) has no tensor named `input` (it has: \(file.tensors.keys.sorted().joined(separator: ", ")))")
            }
            guard tensor.dtype == .f32, tensor.shape.rank >= 2, tensor.shape[0] > 0 else {
                throw CommandError("\(path): `input` is \(tensor.dtype.rawValue) [\(tensor.shape)]; expected f32 with the batch first, e.g. [N, 3, 224, 224]")
            }
            return tensor
        }

        /// Class names from the metadata key `labels` (a JSON array of strings), if it fits.
        private func labels(_ graph: Graph, classes: Int) -> [String]? {
            guard let text = graph.metadata["labels"],
                  let names = try? JSONDecoder().decode([String].self, from: Data(text.utf8)), names.count == classes else { return nil }
            return names
        }

        private func printTopClasses(_ output: Tensor, alreadyProbabilities: Bool, labels: [String]?, sampleNames: [String],
                                     title: String?) {
            let classes = output.shape[1]
            let values = output.floats
            for sample in 0..<output.shape[0] {
                var row = Array(values[(sample * classes)..<((sample + 1) * classes)])
                if !alreadyProbabilities {
                    let largest = row.max() ?? 0
                    row = row.map { Foundation.exp($0 - largest) }
                    let sum = row.reduce(0, +)
                    row = row.map { $0 / sum }
                }
                let ranked = row.indices.sorted { row[$0] > row[$1] }.prefix(top)
                print((title.map { "\($0) " } ?? "") + sampleNames[sample] + ":")
                for index in ranked {
                    let name = labels.map { "  \($0[index])" } ?? ""
                    print(String(format: "  %5d  %6.2f%%", index, 100 * row[index]) + name)
                }
            }
        }
    }
}
