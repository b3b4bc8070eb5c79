import ArgumentParser
import Foundation
import PareAnalysis
import PareCore

extension Pare {
    struct BenchKernels: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "bench-kernels",
            abstract: "Measure convolution GFLOP/s through Pare's executor (forward, backward-data, backward-weights).",
            discussion: """
                Runs a dense 3x3 (pad 1), a depthwise 3x3 and a 1x1 convolution, 64->64 channels on \
                32x32 images, through the oneDNN executor in training mode and prints the median time \
                and GFLOP/s of each convolution primitive (in the layout the executor chose) and of \
                whole passes, which include the reorders at the graph's edges.
                """)

        @Option(help: "Threads for oneDNN's OpenMP runtime.") var threads = 2
        @Option(help: "Batch size N.") var batch = 128
        @Option(help: "Untimed warm-up iterations.") var warmup = 2
        @Option(help: "Timed iterations (the median is reported).") var runs = 10
        @Flag(help: "Print the primitives oneDNN chose.") var verbose = false
        @Flag(help: "Print JSON instead of a table.") var json = false

        func validate() throws {
            guard threads > 0, batch > 0, runs > 0, warmup >= 0 else {
                throw ValidationError("--threads, --batch and --runs must be positive, --warmup non-negative")
            }
        }

        func run() throws {
            var results: [KernelBenchmark.Result] = []
            for benchCase in KernelBenchmark.standardCases(batch: batch) {
                results.append(try KernelBenchmark.run(benchCase, threads: threads, warmup: warmup, runs: runs))
            }
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
                print(String(decoding: try encoder.encode(results), as: UTF8.self))
                return
            }
            print("oneDNN \(DNNLEngine.version), fp32, \(threads) thread(s), N=\(batch), 64x32x32, median of \(runs) runs")
            print("case               pass             ms      GFLOP/s")
            for r in results {
                for (pass, ms) in [("forward", r.forwardMilliseconds), ("backward-data", r.backwardDataMilliseconds),
                                   ("backward-weights", r.backwardWeightsMilliseconds),
                                   ("forward pass*", r.forwardPassMilliseconds), ("backward pass*", r.backwardPassMilliseconds)] {
                    let flops = pass == "backward pass*" ? 2 * r.flops : r.flops
                    print(String(format: "%-18@ %-16@ %7.2f %8.1f", r.name as NSString, pass as NSString, ms, flops / (ms * 1e-3) / 1e9))
                }
                if verbose { print(r.implementation) }
            }
            print("* whole executor pass: input copy, edge reorders and (backward) both gradients")
        }
    }
}
