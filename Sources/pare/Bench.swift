import ArgumentParser
import Foundation
import PareAnalysis
import PareCore
import PareModels

extension Pare {
    struct Bench: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Measure a model's inference latency (evaluation mode, fp32).",
            discussion: """
                MODEL is a zoo name (`pare zoo` lists them; seeded initial weights) or a native \
                .safetensors model file. After --warmup untimed passes, --runs passes are timed one \
                by one; the median, 90th percentile and minimum are printed with the threads, batch \
                and kernels used.
                """)

        @Argument(help: "Zoo model name or .safetensors model file.") var model: String
        @Option(help: "Batch size.") var batch = 1
        @Option(help: "Threads for oneDNN's OpenMP runtime.") var threads = 2
        @Option(help: "Untimed warm-up passes.") var warmup = 10
        @Option(help: "Timed passes.") var runs = 50
        @Option(help: "Input shape CxHxW for zoo models (default: the model's).") var input: String?
        @Option(help: "Number of classes for zoo models (default: the model's).") var classes: Int?
        @Flag(help: "Also time every executor step (mean per pass) and print the slowest.") var profile = false
        @Flag(help: "Print JSON instead of text.") var json = false

        func validate() throws {
            guard batch > 0, threads > 0, runs > 0, warmup >= 0 else {
                throw ValidationError("--batch, --threads and --runs must be positive, --warmup non-negative")
            }
            if let input { _ = try parseInputShape(input) }
            if let classes, classes <= 0 { throw ValidationError("--classes must be positive") }
        }

        func run() throws {
            let graph = try ModelReference(text: model).graph(input: try input.map(parseInputShape), classes: classes,
                                                              withParameters: true)
            let settings = LatencyBenchmark.Settings(batch: batch, threads: threads, warmup: warmup, runs: runs)
            let terminal = isatty(2) != 0 && !json
            let result = try LatencyBenchmark.run(graph, name: model, settings: settings, profile: profile) { done, total in
                if terminal { FileHandle.standardError.write("\r\(model): run \(done)/\(total)".data(using: .utf8)!) }
            }
            if terminal { FileHandle.standardError.write("\r\u{1B}[K".data(using: .utf8)!) }
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
                print(String(decoding: try encoder.encode(result), as: UTF8.self))
                return
            }
            print("\(model): input \(result.inputShape.map(String.init).joined(separator: "x")), batch \(batch), \(threads) thread(s), \(warmup) warm-up + \(runs) timed runs")
            print(String(format: "latency: median %.3f ms, p90 %.3f ms, min %.3f ms; throughput %.1f images/s",
                         result.medianMilliseconds, result.p90Milliseconds, result.minMilliseconds, result.imagesPerSecond))
            print("kernels: \(result.kernels)")
            if let steps = result.steps {
                let total = steps.reduce(0) { $0 + $1.milliseconds }
                print(String(format: "profile (mean ms per pass, %.3f ms in all steps), slowest 25:", total))
                for step in steps.prefix(25) { print(String(format: "%9.3f  %@", step.milliseconds, step.label)) }
            }
        }
    }
}
