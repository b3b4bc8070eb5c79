import ArgumentParser
import Foundation
import PareAnalysis
import PareCore
import PareData
import PareModels
import PareTrain

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

                --conv times your own shapes instead, each through oneDNN's direct kernel and, \
                when it applies (3x3, stride 1, padding 0-2, one group, >= 8 channels), through \
                Pare's Winograd kernel as training runs it:

                  pare bench-kernels --conv 32,64,13,3,0 --conv 1,32,28,3,0
                """)

        @Option(help: "Threads for oneDNN's OpenMP runtime.") var threads = 2
        @Option(help: "Batch size N.") var batch = 128
        @Option(help: "Untimed warm-up iterations.") var warmup = 2
        @Option(help: "Timed iterations (the median is reported).") var runs = 10
        @Option(name: .customLong("conv"),
                help: ArgumentHelp("A convolution to time instead of the standard cases (repeatable).",
                                   valueName: "IN,OUT,SIZE[,KERNEL[,PAD[,STRIDE[,GROUPS]]]]"))
        var convolutions: [ConvolutionSpec] = []
        @Flag(help: "Print the primitives oneDNN chose.") var verbose = false
        @Flag(help: "Print JSON instead of a table.") var json = false

        func validate() throws {
            guard threads > 0, batch > 0, runs > 0, warmup >= 0 else {
                throw ValidationError("--threads, --batch and --runs must be positive, --warmup non-negative")
            }
        }

        func run() throws {
            var results: [KernelBenchmark.Result] = []
            let cases = convolutions.isEmpty ? KernelBenchmark.standardCases(batch: batch)
                                             : convolutions.flatMap { $0.cases(batch: batch) }
            for benchCase in cases {
                results.append(try KernelBenchmark.run(benchCase, threads: threads, warmup: warmup, runs: runs))
            }
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
                print(String(decoding: try encoder.encode(results), as: UTF8.self))
                return
            }
            let images = convolutions.isEmpty ? "64x32x32 images" : "images as given (C,H,W)"
            print("oneDNN \(DNNLEngine.version), fp32, \(threads) thread(s), N=\(batch), \(images), median of \(runs) runs")
            print("case                     pass             ms      GFLOP/s")
            for r in results {
                for (pass, ms) in [("forward", r.forwardMilliseconds), ("backward-data", r.backwardDataMilliseconds),
                                   ("backward-weights", r.backwardWeightsMilliseconds),
                                   ("forward pass*", r.forwardPassMilliseconds), ("backward pass*", r.backwardPassMilliseconds)] {
                    let flops = pass == "backward pass*" ? 2 * r.flops : r.flops
                    // Padded here: Foundation on Linux ignores field widths for %@.
                    print(r.name.padding(toLength: 24, withPad: " ", startingAt: 0) + " "
                          + pass.padding(toLength: 16, withPad: " ", startingAt: 0)
                          + String(format: " %7.2f %8.1f", ms, flops / (ms * 1e-3) / 1e9))
                }
                if verbose { print(r.implementation) }
            }
            print("* whole executor pass: input copy, edge reorders and (backward) both gradients")
            print("winograd: F(4x4,3x3), as training runs 3x3 stride-1 convolutions; effective GFLOP/s (the direct convolution's operations per second)")
            if convolutions.isEmpty { try measureTrainingStep() }
        }

        /// Minor page faults and time of a steady-state training step of a small ResNet
        /// (CIFAR stem, three basic-block stages 32/64/128, SGD with momentum).
        func measureTrainingStep() throws {
            var b = GraphBuilder()
            var x = b.input([3, 32, 32])
            x = b.relu(b.batchNorm(b.conv2d(x, "conv1", outChannels: 32, kernelSize: 3, padding: 1, bias: false), "bn1"))
            x = b.basicBlock(x, "layer1.0", planes: 32)
            x = b.basicBlock(x, "layer2.0", planes: 64, stride: 2)
            x = b.basicBlock(x, "layer3.0", planes: 128, stride: 2)
            x = b.linear(b.flatten(b.globalAvgPool(x)), "fc", outFeatures: 10)
            let graph = try b.build(outputs: [x], seed: 0)
            let stepBatch = min(batch, 64)
            let executor = try DNNLExecutor(graph: graph, batchSize: stepBatch, mode: .training,
                                            configuration: ExecutorConfiguration(threads: threads))
            let optimizer = SGD(learningRate: 0.01, momentum: 0.9, weightDecay: 5e-4)
            var generator = SeededGenerator(seed: 0)
            let (images, labels) = SyntheticImages(imageShape: [3, 32, 32], classes: 10, seed: 1).batch(stepBatch, generator: &generator)
            let probe = try ResourceProbe.measure(warmup: warmup + 1, iterations: runs) {
                _ = try trainingStep(executor: executor, optimizer: optimizer, images: images, labels: labels)
            }
            print(String(format: "ResNet-style training step (3 basic-block stages, batch %d, SGD): %.2f ms median, %.0f images/s, %.1f minor page faults per step (arena %.1f MB)",
                         stepBatch, probe.medianMilliseconds, Double(stepBatch) / (probe.medianMilliseconds * 1e-3),
                         probe.minorFaultsPerIteration, Double(executor.arenaBytes) / 1e6))
        }
    }
}

/// A convolution named on the command line: `IN,OUT,SIZE[,KERNEL[,PAD[,STRIDE[,GROUPS]]]]`
/// (square images and kernels; kernel 3, padding 0, stride 1, one group by default).
struct ConvolutionSpec: ExpressibleByArgument {
    var inChannels: Int, outChannels: Int, size: Int, kernel = 3, padding = 0, stride = 1, groups = 1

    init?(argument: String) {
        let numbers = argument.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard (3...7).contains(numbers.count), numbers.allSatisfy({ $0 != nil }) else { return nil }
        let n = numbers.map { $0! }
        (inChannels, outChannels, size) = (n[0], n[1], n[2])
        if n.count > 3 { kernel = n[3] }
        if n.count > 4 { padding = n[4] }
        if n.count > 5 { stride = n[5] }
        if n.count > 6 { groups = n[6] }
        guard inChannels > 0, outChannels > 0, kernel > 0, stride > 0, groups > 0, padding >= 0,
              inChannels % groups == 0, outChannels % groups == 0, size + 2 * padding >= kernel else { return nil }
    }

    var attributes: Conv2dAttributes {
        Conv2dAttributes(outChannels: outChannels, kernelSize: [kernel, kernel], stride: [stride, stride],
                         padding: Padding2d(padding), groups: groups)
    }

    /// The direct case, and the Winograd one when training would run it there.
    func cases(batch: Int) -> [KernelBenchmark.Case] {
        let name = "\(inChannels)->\(outChannels) \(size)x\(size) k\(kernel)p\(padding)" + (stride > 1 ? "s\(stride)" : "")
            + (groups > 1 ? "g\(groups)" : "")
        let direct = KernelBenchmark.Case(name: name, batch: batch, inChannels: inChannels, size: size, convolution: attributes)
        let out = windowOutputSize(input: size, kernel: kernel, stride: stride, padBefore: padding, padAfter: padding)
        guard WinogradConvolution.supports(attributes, input: [batch, inChannels, size, size],
                                           output: [batch, outChannels, out, out]) else { return [direct] }
        var winograd = direct
        winograd.name += " wino"
        winograd.winograd = true
        return [direct, winograd]
    }
}
