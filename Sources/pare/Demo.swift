import ArgumentParser
import Foundation
import PareAnalysis
import PareCore
import PareData
import PareIO
import PareModels
import PareTrain

extension Pare {
    struct Demo: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Train a small residual network on seeded synthetic images and time it.",
            discussion: """
                Builds `tinyResidualNet` (residual add, grouped conv, channel shuffle, depthwise conv), \
                trains it with SGD on a seeded synthetic 10-class image set (each class a random \
                prototype plus noise) through the oneDNN executor, then reports held-out accuracy, \
                parameters, and inference latency. Everything is seeded: the same command prints the \
                same losses.
                """)

        @Option(help: "Threads for oneDNN's OpenMP runtime.") var threads = 2
        @Option(help: "Training steps.") var steps = 60
        @Option(help: "Batch size.") var batch = 32
        @Option(help: "SGD learning rate.") var learningRate: Float = 0.05
        @Option(help: "Random seed for weights and data.") var seed: UInt64 = 0
        @Option(help: "Save the trained model to this .safetensors file.") var save: String?

        func validate() throws {
            guard threads > 0, steps > 0, batch > 0 else { throw ValidationError("--threads, --steps and --batch must be positive") }
            guard learningRate > 0 else { throw ValidationError("--learning-rate must be positive") }
        }

        func run() throws {
            let graph = try tinyResidualNet(input: [3, 32, 32], classes: 10, seed: seed)
            let data = SyntheticImages(imageShape: [3, 32, 32], classes: 10, noise: 0.5, seed: seed &+ 1)
            print("tinyResidualNet: \(try graph.trainableParameterCount()) parameters, \(graph.nodes.count) nodes; oneDNN \(DNNLEngine.version), \(threads) thread(s)")

            let trainer = try DNNLExecutor(graph: graph, batchSize: batch, mode: .training,
                                           configuration: ExecutorConfiguration(threads: threads, seed: seed))
            let optimizer = SGD(learningRate: learningRate, momentum: 0.9, weightDecay: 5e-4)
            var generator = SeededGenerator(seed: seed &+ 2)
            let start = monotonicClock()
            for step in 1...steps {
                let (images, labels) = data.batch(batch, generator: &generator)
                let (loss, accuracy) = try trainingStep(executor: trainer, optimizer: optimizer, images: images,
                                                        labels: labels, step: step)
                if step == 1 || step % 10 == 0 || step == steps {
                    print(String(format: "step %3d  loss %.4f  batch accuracy %5.1f%%", step, loss, accuracy * 100))
                }
            }
            let seconds = monotonicClock() - start
            print(String(format: "trained %d steps in %.2f s (%.0f images/s)", steps, seconds, Double(steps * batch) / seconds))

            let evaluator = try DNNLExecutor(graph: graph, batchSize: 256, mode: .inference,
                                             configuration: ExecutorConfiguration(threads: threads))
            var heldOut = SeededGenerator(seed: seed &+ 3)
            let (images, labels) = data.batch(256, generator: &heldOut)
            let logits = try evaluator.forward([images])[0]
            print(String(format: "held-out accuracy: %.1f%% (256 new samples; chance is 10%%)",
                         topOneAccuracy(logits: logits, labels: labels) * 100))

            let single = try DNNLExecutor(graph: graph, batchSize: 1, mode: .inference,
                                          configuration: ExecutorConfiguration(threads: threads))
            let one = try images.reshaped([256, 3, 32, 32])
            let sample = Tensor(zeros: [1, 3, 32, 32])
            memcpy(sample.storage.pointer, one.storage.pointer, sample.byteCount)
            let latency = try ResourceProbe.measure(warmup: 5, iterations: 50) { _ = try single.forward([sample]) }
            print(String(format: "inference latency, batch 1: %.3f ms (median of 50)", latency.medianMilliseconds))
            let output = try single.forward([sample])[0]
            print("output logits of one sample: " + output.scalars.map { String(format: "%.3f", $0) }.joined(separator: " "))

            if let save {
                let url = URL(fileURLWithPath: save)
                try ModelFile.save(graph, to: url)
                let reloaded = try ModelFile.load(from: url)
                let again = try DNNLExecutor(graph: reloaded, batchSize: 1, mode: .inference,
                                             configuration: ExecutorConfiguration(threads: threads))
                let same = try again.forward([sample])[0].scalars == output.scalars
                let bytes = (try FileManager.default.attributesOfItem(atPath: url.path)[.size] as? Int) ?? 0
                print("saved \(url.path) (\(bytes) bytes); reloaded model gives \(same ? "identical" : "DIFFERENT") outputs")
            }
        }
    }
}
