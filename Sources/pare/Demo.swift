import ArgumentParser
import Foundation
import PareAnalysis
import PareCompress
import PareCore
import PareData
import PareIO
import PareModels
import PareTrain

extension Pare {
    struct Demo: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Pare's main job on Fashion-MNIST: train a teacher, compress it to a small int8 student, report every step.",
            discussion: """
                Runs `pare compress` on Fashion-MNIST with settings chosen to finish in about three \
                minutes on two cores: trains `smallcnn` for --epochs epochs (the teacher), measures \
                each channel group's sensitivity, allocates per-group pruning ratios to reach \
                --target (default: at most 25,000 parameters), prunes in two steps with two epochs \
                of knowledge distillation from the teacher each, quantises to int8 and exports. It prints \
                every step (parameters, MACs, file size, latency measured at batch 1, accuracy), the \
                table, and where the report is: --out/report.html (open it in a browser) and \
                report.json. The same run by hand:

                  pare compress smallcnn --data fashion-mnist --train-teacher --teacher-epochs 5 \\
                      --target params=25k --prune-steps 2 --finetune-epochs 2 --max-drop 3 --out pare-demo

                With --synthetic it instead builds `tinyResidualNet` (residual add, grouped conv, \
                channel shuffle, depthwise conv) and trains it for --steps SGD steps on seeded \
                synthetic 10-class images (each class a random prototype plus noise): no data files \
                needed. Everything is seeded: the same command prints the same losses.
                """)

        @Flag(help: "Train tinyResidualNet on seeded synthetic images instead (no data files needed).") var synthetic = false
        @Option(help: "Threads for oneDNN's OpenMP runtime.") var threads = 2
        @Option(help: "Epochs of teacher training.") var epochs = 5
        @Option(help: "Batch size (default: 128; with --synthetic 32).") var batch: Int?
        @Option(help: "Data set (\(DatasetSpec.acceptedForms.joined(separator: ", "))).") var data = "fashion-mnist"
        @Option(help: "What the student must meet: params=N, size=BYTES, macs=N or latency=MS.") var target = "params=25k"
        @Option(help: "Run directory (must not hold a run; an interrupted demo continues with `pare compress --resume DIR`).")
        var out = "pare-demo"
        @Option(help: "With --synthetic: training steps (default: 60).") var steps: Int?
        @Option(help: "With --synthetic: SGD learning rate (default: 0.05).") var learningRate: Float?
        @Option(help: "Random seed for weights and data.") var seed: UInt64 = 0
        @Option(help: "With --synthetic: save the trained model to this .safetensors file.") var save: String?

        func validate() throws {
            guard threads > 0, (steps ?? 1) > 0, epochs > 0, (batch ?? 1) > 0 else {
                throw ValidationError("--threads, --epochs, --steps and --batch must be positive")
            }
            guard (learningRate ?? 1) > 0 else { throw ValidationError("--learning-rate must be positive") }
            if !synthetic && (steps != nil || learningRate != nil || save != nil) {
                throw ValidationError("--steps, --learning-rate and --save apply to --synthetic; the Fashion-MNIST demo writes --out")
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
            let target: CompressionTarget
            do { target = try CompressionTarget(parsing: self.target) } catch { throw ValidationError("\(error)") }
            var c = CompressionConfiguration(target: target, recipe: CompressionRecipe())
            c.teacherEpochs = epochs
            c.maxDrop = 0.03
            c.pruneSteps = 2
            c.finetuneEpochs = 2
            c.training.batchSize = batch
            c.training.threads = threads
            c.training.seed = seed
            c.training.normalization = spec.defaultNormalization
            c.training.validationFraction = 0.1
            c.weightBits = CPUFeatures.current().int8WeightBits
            c.minimumInt8InputChannels = CPUFeatures.current().int8MinimumInputChannels
            c.benchmark = LatencyBenchmark.Settings(batch: 1, threads: threads, warmup: 10, runs: 50)
            c.notes = ["model": "smallcnn", "data": data, "command": "pare demo"]
            let graph = try Zoo.build("smallcnn", options: ZooOptions(classes: train.classes, input: train.sampleShape, seed: seed))
            let pipeline = try CompressionPipeline(model: graph, directory: URL(fileURLWithPath: out), configuration: c,
                                                   trainingSet: train, testSet: test)
            print("pare demo: smallcnn (\(grouped(Double(try graph.trainableParameterCount()))) parameters) on \(data) "
                  + "(\(train.count) training, \(test.count) test images) -> \(target), int8; oneDNN \(DNNLEngine.version), "
                  + "\(threads) thread(s), \(CPUFeatures.current().isa); phases " + pipeline.phases.map(\.rawValue).joined(separator: ", "))
            try runCompression(pipeline, logEvery: 100, json: false)
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
