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
            abstract: "Train smallcnn on Fashion-MNIST for a few epochs; report accuracy, size and latency.",
            discussion: """
                Trains `smallcnn` with `pare train`'s defaults (SGD momentum 0.9, cosine schedule, \
                Fashion-MNIST normalisation) for --epochs epochs with a progress display, then prints \
                its test accuracy, parameters, size and batch-1 inference latency. The run's \
                checkpoints go to --out (default: a temporary directory, removed afterwards).

                With --synthetic it instead builds `tinyResidualNet` (residual add, grouped conv, \
                channel shuffle, depthwise conv) and trains it for --steps SGD steps on seeded \
                synthetic 10-class images (each class a random prototype plus noise): no data files \
                needed. Everything is seeded: the same command prints the same losses.
                """)

        @Flag(help: "Train tinyResidualNet on seeded synthetic images instead (no data files needed).") var synthetic = false
        @Option(help: "Threads for oneDNN's OpenMP runtime.") var threads = 2
        @Option(help: "Epochs of training.") var epochs = 3
        @Option(help: "Batch size (default: 128; with --synthetic 32).") var batch: Int?
        @Option(help: "Data set (\(DatasetSpec.acceptedForms.joined(separator: ", "))).") var data = "fashion-mnist"
        @Option(help: "Run directory for the checkpoints and metrics (default: a temporary one, removed afterwards).")
        var out: String?
        @Option(help: "With --synthetic: training steps (default: 60).") var steps: Int?
        @Option(help: "With --synthetic: SGD learning rate (default: 0.05).") var learningRate: Float?
        @Option(help: "Random seed for weights and data.") var seed: UInt64 = 0
        @Option(help: "Save the trained model to this .safetensors file.") var save: String?

        func validate() throws {
            guard threads > 0, (steps ?? 1) > 0, epochs > 0, (batch ?? 1) > 0 else {
                throw ValidationError("--threads, --epochs, --steps and --batch must be positive")
            }
            guard (learningRate ?? 1) > 0 else { throw ValidationError("--learning-rate must be positive") }
            if !synthetic && (steps != nil || learningRate != nil) {
                throw ValidationError("--steps and --learning-rate apply to --synthetic; the Fashion-MNIST demo trains --epochs epochs")
            }
        }

        func run() throws {
            if synthetic { try runSynthetic(batch: batch ?? 32) } else { try runFashionMNIST(batch: batch ?? 128) }
        }

        func runFashionMNIST(batch: Int) throws {
            let spec = try DatasetSpec(parsing: data)
            guard let train = try spec.open(.train), let test = try spec.open(.test) else {
                throw CommandError("\(data) needs a training and a test set")
            }
            var configuration = TrainingConfiguration()
            configuration.epochs = epochs
            configuration.batchSize = batch
            configuration.threads = threads
            configuration.seed = seed
            configuration.normalization = spec.defaultNormalization
            configuration.notes = ["model": "smallcnn", "data": data]
            let graph = try Zoo.build("smallcnn", options: ZooOptions(classes: train.classes, input: train.sampleShape, seed: seed))
            let temporary = out == nil
            let directory = out.map { URL(fileURLWithPath: $0) }
                ?? FileManager.default.temporaryDirectory.appendingPathComponent("pare-demo-\(UUID().uuidString)")
            defer { if temporary { try? FileManager.default.removeItem(at: directory) } }

            let parameters = try graph.trainableParameterCount()
            print("smallcnn: \(grouped(Double(parameters))) parameters; \(data): \(train.count) training and \(test.count) test images; "
                  + "\(epochs) epochs, batch \(batch), SGD lr \(configuration.learningRate) momentum \(configuration.momentum), "
                  + "cosine schedule; oneDNN \(DNNLEngine.version), \(threads) thread(s)")
            let trainer = try Trainer(graph: graph, trainingSet: train, testSet: test, configuration: configuration,
                                      directory: directory)
            trainer.onEvent = TrainingDisplay(logEvery: 100).handle
            let summary = try runReportingStops(trainer)

            if let final = summary.final?.test {
                print(String(format: "test accuracy after %d epochs: %.2f%% (loss %.4f); training took %@", summary.completedEpochs,
                             final.accuracy * 100, final.loss, duration(summary.totalSeconds)))
            }
            let bytes = graph.parameters.values.reduce(0) { $0 + $1.byteCount }
            print(String(format: "parameters: %@ trainable; size: %.1f KiB of fp32 weights and statistics", grouped(Double(parameters)),
                         Double(bytes) / 1024))
            let single = try DNNLExecutor(graph: graph, batchSize: 1, mode: .inference,
                                          configuration: ExecutorConfiguration(threads: threads))
            let sample = Tensor(zeros: train.sampleShape.prepending(1))
            let latency = try ResourceProbe.measure(warmup: 10, iterations: 100) { _ = try single.forward([sample]) }
            print(String(format: "inference latency, batch 1: %.3f ms (median of 100)", latency.medianMilliseconds))
            if let save {
                try ModelFile.save(graph, to: URL(fileURLWithPath: save))
                print("saved \(save)")
            }
            if !temporary { print("run files in \(directory.path)") }
        }

        func runSynthetic(batch: Int) throws {
            let graph = try tinyResidualNet(input: [3, 32, 32], classes: 10, seed: seed)
            let data = SyntheticImages(imageShape: [3, 32, 32], classes: 10, noise: 0.5, seed: seed &+ 1)
            print("tinyResidualNet: \(try graph.trainableParameterCount()) parameters, \(graph.nodes.count) nodes; oneDNN \(DNNLEngine.version), \(threads) thread(s)")

            let trainer = try DNNLExecutor(graph: graph, batchSize: batch, mode: .training,
                                           configuration: ExecutorConfiguration(threads: threads, seed: seed))
            let (steps, learningRate) = (self.steps ?? 60, self.learningRate ?? 0.05)
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
