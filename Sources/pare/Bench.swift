import ArgumentParser
import Foundation
import PareAnalysis
import PareCore
import PareModels
import PareTrain

extension Pare {
    struct Bench: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Measure a model's inference latency (evaluation mode, fp32), or its training speed (--train).",
            discussion: """
                MODEL is a zoo name (`pare zoo` lists them; seeded initial weights) or a native \
                .safetensors model file. After --warmup untimed passes, --runs passes are timed one \
                by one; the median, 90th percentile and minimum are printed with the threads, batch \
                and kernels used.

                With --train, times training steps instead (forward in training mode, softmax \
                cross-entropy, backward, SGD momentum 0.9 with weight decay) on one fixed batch of \
                seeded random images (default batch 128), and prints the median step time and \
                images per second: the engine's speed, without the data loader. As in `pare train`, \
                3x3 stride-1 convolutions with 8 or more channels run on Winograd's F(4x4,3x3) \
                algorithm; --direct runs them on oneDNN's direct kernels instead, for comparison.
                """)

        @Argument(help: "Zoo model name or .safetensors model file.") var model: String
        @Option(help: "Batch size (default: 1; with --train 128).") var batch: Int?
        @Option(help: "Threads for oneDNN's OpenMP runtime.") var threads = 2
        @Option(help: "Untimed warm-up passes (default: 10; with --train 5).") var warmup: Int?
        @Option(help: "Timed passes (default: 50; with --train 20).") var runs: Int?
        @Flag(help: "Time training steps instead of inference.") var train = false
        @Flag(help: "Print the executor's plan: every oneDNN primitive and reorder with its layouts.") var plan = false
        @Option(help: "Input shape CxHxW for zoo models (default: the model's).") var input: String?
        @Option(help: "Number of classes for zoo models (default: the model's).") var classes: Int?
        @Flag(help: "Also time every executor step (mean per pass) and print the slowest.") var profile = false
        @Flag(help: "Print JSON instead of text.") var json = false
        @Flag(help: ArgumentHelp("With --train: run the 3x3 convolutions on oneDNN's direct kernels instead of Winograd.",
                                 discussion: "By default, training runs 3x3 stride-1 convolutions with 8 or more channels on Winograd's F(4x4,3x3) algorithm (each pass whose map its tiles cover with little waste); this compares with the direct kernels. First-layer weight gradients and max pooling stay on Pare's own kernels either way."))
        var direct = false

        func validate() throws {
            guard (batch ?? 1) > 0, threads > 0, (runs ?? 1) > 0, (warmup ?? 0) >= 0 else {
                throw ValidationError("--batch, --threads and --runs must be positive, --warmup non-negative")
            }
            if let input { _ = try parseInputShape(input) }
            if let classes, classes <= 0 { throw ValidationError("--classes must be positive") }
        }

        func run() throws {
            let graph = try ModelReference(text: model).graph(input: try input.map(parseInputShape), classes: classes,
                                                              withParameters: true)
            if train { return try runTraining(graph) }
            let (batch, warmup, runs) = (self.batch ?? 1, self.warmup ?? 10, self.runs ?? 50)
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
            if plan { print(result.plan) }
            if let steps = result.steps {
                let total = steps.reduce(0) { $0 + $1.milliseconds }
                print(String(format: "profile (mean ms per pass, %.3f ms in all steps), slowest 25:", total))
                for step in steps.prefix(25) { print(String(format: "%9.3f  %@", step.milliseconds, step.label)) }
            }
        }

        func runTraining(_ graph: Graph) throws {
            let settings = TrainingBenchmark.Settings(batch: batch ?? 128, threads: threads, warmup: warmup ?? 5, runs: runs ?? 20,
                                                      winograd: !direct)
            let terminal = isatty(2) != 0 && !json
            let result = try TrainingBenchmark.run(graph, name: model, settings: settings, profile: profile) { done, total in
                if terminal { FileHandle.standardError.write(Data("\r\(model): training step \(done)/\(total)".utf8)) }
            }
            if terminal { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
                print(String(decoding: try encoder.encode(result), as: UTF8.self))
                return
            }
            print("\(model): training, input \(result.inputShape.map(String.init).joined(separator: "x")), batch \(settings.batch), "
                  + "\(threads) thread(s), \(settings.warmup) warm-up + \(settings.runs) timed steps, SGD momentum 0.9")
            print(String(format: "step: median %.2f ms, min %.2f ms; %.1f images/s; arena %.1f MB", result.medianMilliseconds,
                         result.minMilliseconds, result.imagesPerSecond, Double(result.arenaBytes) / 1e6))
            print("kernels: \(result.kernels)")
            if plan { print(result.plan) }
            if let parts = result.parts {
                let total = parts.reduce(0) { $0 + $1.milliseconds }
                print(String(format: "profile (mean ms per step, %.3f ms in all parts), slowest 25:", total))
                for part in parts.prefix(25) { print(String(format: "%9.3f  %@", part.milliseconds, part.label)) }
            }
        }
    }
}
