import ArgumentParser
import Foundation
import PareAnalysis
import PareCore
import PareData
import PareIO
import PareTrain

extension Pare {
    struct Compare: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Compare models side by side: size on disk, parameters, MACs, measured latency, test accuracy.",
            discussion: """
                The seed reports' table for any set of models: each MODEL is a native .safetensors \
                file (a trained, pruned, rewritten or distilled model) or a zoo name. Size is the \
                file's bytes on disk (for a zoo model, the bytes its file would have); MACs count \
                conv and linear layers for one image; latency is the median of --runs timed \
                inference passes at --batch and --threads, all measured in this one run, so the \
                ratios are comparable. With --data, test accuracy on that data set's test split \
                (with the normalisation the model's checkpoint names, else the data set's preset).

                Examples:
                  pare compare resnet18.safetensors small.safetensors --data fashion-mnist
                  pare compare teacher/best.safetensors kd/student.safetensors alone/best.safetensors \\
                      --data fashion-mnist --batch 1 --threads 2 --json
                """)

        @Argument(help: "Models to compare: .safetensors files or zoo names.") var models: [String]
        @Option(help: "Data set whose test split gives the accuracy: \(DatasetSpec.acceptedForms.joined(separator: ", ")).")
        var data: String?
        @Option(help: "Batch size of the latency measurement.") var batch = 1
        @Option(help: "Threads for oneDNN.") var threads = 2
        @Option(help: "Timed inference passes per model (after 5 untimed ones).") var runs = 30
        @OptionGroup var folderOptions: ImageFolderOptions
        @Flag(help: "Print JSON instead of a table.") var json = false

        func validate() throws {
            guard !models.isEmpty else { throw ValidationError("name at least one model to compare") }
            guard batch > 0, threads > 0, runs > 0 else { throw ValidationError("--batch, --threads and --runs must be positive") }
        }

        struct Row: Encodable {
            var model: String
            var fileBytes: Int
            var parameters: Int
            var macs: Int
            var latencyMilliseconds: Double
            var kernels: String
            var testAccuracy: Double?
        }

        struct Report: Encodable {
            var batch: Int
            var threads: Int
            var runs: Int
            var data: String?
            var rows: [Row]
        }

        func run() throws {
            var testSets: [String: any Dataset] = [:]
            var rows: [Row] = []
            for (index, model) in models.enumerated() {
                let reference = ModelReference(text: model)
                var graph: Graph, fileBytes: Int
                var normalization: Normalize??  // .some(nil): a checkpoint trained without normalisation
                if reference.isFile {
                    let url = URL(fileURLWithPath: model)
                    guard FileManager.default.fileExists(atPath: url.path) else { throw CommandError("no such model file: \(model)") }
                    let (loaded, checkpoint, _) = try TrainingCheckpoint.read(from: url)
                    graph = loaded
                    fileBytes = (try FileManager.default.attributesOfItem(atPath: url.path)[.size] as? Int) ?? 0
                    normalization = checkpoint.map { $0.configuration.normalization }
                } else {
                    graph = try reference.graph(input: nil, classes: nil, withParameters: true)
                    fileBytes = try ModelFile.encodedByteCount(graph)
                    normalization = .none
                }
                if graph.outputs.count > 1 {
                    throw CommandError("\(model) has \(graph.outputs.count) outputs (a distillation checkpoint with hint adapters?): "
                                       + "compare its student.safetensors")
                }
                if !json { FileHandle.standardError.write(Data("[\(index + 1)/\(models.count)] \(model)\n".utf8)) }
                let summary = try ModelSummary(graph: graph)
                let latency = try LatencyBenchmark.run(graph, name: model, settings: LatencyBenchmark.Settings(
                    batch: batch, threads: threads, warmup: 5, runs: runs))
                var accuracy: Double?
                if let data {
                    let spec = try DatasetSpec(parsing: data)
                    let size = folderOptions.imageSize ?? 224
                    let key = "\(data)@\(size)"
                    if testSets[key] == nil {
                        guard let test = try ImageFolderOptions.open(spec, .test, size: size, skip: folderOptions.skipBadImages, quiet: json) else {
                            throw CommandError("\(data) has no test set")
                        }
                        testSets[key] = test
                    }
                    let test = testSets[key]!
                    do {
                        try Trainer.checkFit(graph, sampleShape: test.sampleShape, classes: test.classes)
                    } catch let error as TrainerError {
                        throw CommandError("\(model) does not fit --data \(data): \(error)")
                    }
                    let chosen: Normalize? = normalization ?? spec.defaultNormalization
                    let transforms = chosen.map { [$0 as any Transform] } ?? []
                    accuracy = try Evaluator(graph: graph, batchSize: 256, threads: threads).evaluate(test, transforms: transforms).top1
                }
                rows.append(Row(model: model, fileBytes: fileBytes, parameters: summary.trainableParameters,
                                macs: summary.operations.macs, latencyMilliseconds: latency.medianMilliseconds,
                                kernels: latency.kernels, testAccuracy: accuracy))
            }
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
                print(String(decoding: try encoder.encode(Report(batch: batch, threads: threads, runs: runs, data: data, rows: rows)),
                             as: UTF8.self))
                return
            }
            print(Self.table(rows, data: data))
            print("latency: median of \(runs) inference passes at batch \(batch), \(threads) thread(s); kernels: \(rows[0].kernels)")
        }

        /// The comparison as an aligned text table; ratios are against the first model.
        static func table(_ rows: [Row], data: String?) -> String {
            let first = rows[0]
            var header = ["model", "size on disk", "parameters", "MACs", "latency ms", "speed-up", "MAC ratio"]
            if data != nil { header.append("test accuracy") }
            var lines = [header]
            for row in rows {
                var cells = [row.model, String(format: "%.2f MB", Double(row.fileBytes) / 1e6), grouped(Double(row.parameters)),
                             grouped(Double(row.macs)), String(format: "%.3f", row.latencyMilliseconds),
                             String(format: "%.2fx", first.latencyMilliseconds / max(row.latencyMilliseconds, 1e-9)),
                             String(format: "%.2fx", Double(first.macs) / Double(max(row.macs, 1)))]
                if data != nil { cells.append(row.testAccuracy.map { String(format: "%.2f%%", $0 * 100) } ?? "-") }
                lines.append(cells)
            }
            let widths = header.indices.map { c in lines.map { $0[c].count }.max() ?? 0 }
            return lines.map { cells in
                cells.enumerated().map { c, text in
                    c == 0 ? text.padding(toLength: widths[c], withPad: " ", startingAt: 0)
                           : String(repeating: " ", count: widths[c] - text.count) + text
                }.joined(separator: "  ")
            }.joined(separator: "\n")
        }
    }
}
