import ArgumentParser
import Foundation
import PareCore
import PareData
import PareTrain

extension Pare {
    struct Eval: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Evaluate a model on a data set: loss, top-1 and top-5 accuracy, confusion matrix.",
            discussion: """
                FILE is a native .safetensors model or a checkpoint written by `pare train` \
                (last.safetensors or best.safetensors). For a checkpoint, --data and --normalize \
                default to what it was trained with. Runs in inference mode (batch-norm running \
                statistics, no dropout), the last smaller batch included.
                """)

        @Argument(help: "Model or checkpoint .safetensors file.") var file: String
        @Option(help: "Data set: \(DatasetSpec.acceptedForms.joined(separator: ", ")) (default: the checkpoint's).")
        var data: String?
        @Option(help: "Split to evaluate: test or train.") var split = "test"
        @Option(help: "Batch size.") var batch = 256
        @Option(help: "Threads for oneDNN.") var threads = 2
        @Option(help: "Normalisation: \(Normalize.presets.keys.sorted().joined(separator: ", ")), none or default (default: the checkpoint's, else the data set's preset).")
        var normalize: String?
        @OptionGroup var folderOptions: ImageFolderOptions
        @Flag(help: "Print JSON instead of text.") var json = false

        func validate() throws {
            guard batch > 0, threads > 0 else { throw ValidationError("--batch and --threads must be positive") }
            guard Split(rawValue: split) != nil else { throw ValidationError("--split must be test or train") }
        }

        struct Report: Encodable {
            var file: String
            var data: String
            var split: String
            var result: EvaluationResult
        }

        func run() throws {
            let url = URL(fileURLWithPath: file)
            guard FileManager.default.fileExists(atPath: url.path) else { throw CommandError("no such model file: \(file)") }
            let (graph, checkpoint, _) = try TrainingCheckpoint.read(from: url)
            let source = try CheckpointData(data: data, normalize: normalize, folderOptions: folderOptions, checkpoint: checkpoint,
                                            file: file, purpose: "")
            let dataText = source.text
            let dataset = try source.open(Split(rawValue: split)!, quiet: json)
            try Trainer.checkFit(graph, sampleShape: dataset.sampleShape, classes: dataset.classes)
            let normalization = source.normalization

            let terminal = isatty(STDERR_FILENO) != 0 && !json
            let result = try Evaluator(graph: graph, batchSize: batch, threads: threads)
                .evaluate(dataset, transforms: normalization.map { [$0] } ?? []) { done, total in
                    if terminal { FileHandle.standardError.write(Data("\revaluating \(done)/\(total)".utf8)) }
                }
            if terminal { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }

            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
                let report = Report(file: file, data: dataText, split: split, result: result)
                print(String(decoding: try encoder.encode(report), as: UTF8.self))
                return
            }
            print("\(file) on \(dataText) (\(split), \(result.samples) images)")
            print(String(format: "loss %.4f  top-1 %.2f%%  top-5 %.2f%%", result.loss, result.top1 * 100, result.top5 * 100))
            print("confusion matrix (rows: true class, columns: predicted class):")
            print(confusionTable(result))
        }

        /// The confusion matrix as text, one row per true class with its name.
        func confusionTable(_ result: EvaluationResult) -> String {
            let classes = result.confusion.count
            let width = max(String(result.confusion.flatMap { $0 }.max() ?? 0).count, String(classes - 1).count) + 1
            let names = (0..<classes).map { c in result.classNames.map { "\(c) \($0[c])" } ?? "\(c)" }
            let nameWidth = names.map(\.count).max() ?? 1
            func pad(_ text: String, _ count: Int) -> String { String(repeating: " ", count: max(count - text.count, 0)) + text }
            var lines = [String(repeating: " ", count: nameWidth) + (0..<classes).map { pad(String($0), width) }.joined()]
            for (c, row) in result.confusion.enumerated() {
                let name = names[c] + String(repeating: " ", count: nameWidth - names[c].count)
                lines.append(name + row.map { pad(String($0), width) }.joined())
            }
            return lines.joined(separator: "\n")
        }
    }
}
