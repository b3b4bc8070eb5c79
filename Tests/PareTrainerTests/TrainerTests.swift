import Foundation
import PareCore
import PareData
import PareIO
import PareModels
@testable import PareTrain
import XCTest

/// The ``Trainer``: checkpoints, metrics, exact resume, NaN stops, accumulation, evaluation.
final class TrainerTests: XCTestCase {
    var directories: [URL] = []

    override func tearDown() {
        for directory in directories { try? FileManager.default.removeItem(at: directory) }
        directories = []
    }

    func runDirectory() -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("pare-trainer-\(UUID().uuidString)")
        directories.append(url)
        return url
    }

    /// A 4-class problem of 12×12 grey images: class c is a bright square in quadrant c plus
    /// seeded noise, so a small model learns it in a few epochs.
    static func quadrants(count: Int, seed: UInt64) -> InMemoryDataset {
        var generator = SeededGenerator(seed: seed)
        var pixels: [UInt8] = []
        var labels: [Int] = []
        for _ in 0..<count {
            let label = Int(generator.next() % 4)
            for y in 0..<12 {
                for x in 0..<12 {
                    let inside = (y / 6) * 2 + (x / 6) == label
                    let noise = Int(generator.next() % 96)
                    pixels.append(UInt8(min(255, (inside ? 140 : 20) + noise)))
                }
            }
            labels.append(label)
        }
        return InMemoryDataset(sampleShape: [1, 12, 12], classes: 4, classNames: ["nw", "ne", "sw", "se"], pixels: pixels,
                               labels: labels)
    }

    /// conv → BN → ReLU → dropout → 6×6 average pool → linear: exercises running statistics,
    /// dropout masks and momentum buffers in the checkpoint. Without `relu`, a NaN in the
    /// input reaches the logits.
    static func model(seed: UInt64, relu: Bool = true) throws -> Graph {
        var b = GraphBuilder()
        var x = b.input([1, 12, 12])
        x = b.conv2d(x, "conv", outChannels: 8, kernelSize: 3, padding: 1, bias: false)
        x = b.batchNorm(x, "bn")
        if relu { x = b.relu(x) }
        x = b.dropout(x, probability: 0.2)
        x = b.avgPool(x, kernelSize: 6)
        x = b.flatten(x)
        x = b.linear(x, "fc", outFeatures: 4)
        return try b.build(outputs: [x], seed: seed)
    }

    static func configuration(epochs: Int = 3) -> TrainingConfiguration {
        var c = TrainingConfiguration()
        c.epochs = epochs
        c.batchSize = 16
        c.learningRate = 0.1
        c.augmentation = "crop=2"  // no flip: it would swap the quadrant classes
        c.seed = 7
        c.threads = 1
        c.validationFraction = 0.25
        return c
    }

    func testRunWritesCheckpointsMetricsAndSummary() throws {
        let directory = runDirectory()
        let train = Self.quadrants(count: 192, seed: 1), test = Self.quadrants(count: 64, seed: 2)
        let trainer = try Trainer(graph: try Self.model(seed: 3), trainingSet: train, testSet: test,
                                  configuration: Self.configuration(), directory: directory)
        var events = 0
        trainer.onEvent = { _ in events += 1 }
        let summary = try trainer.run()
        XCTAssertEqual(summary.completedEpochs, 3)
        XCTAssertEqual(summary.selectedBy, "validation")
        XCTAssertEqual(summary.trainingSamples, 144)
        XCTAssertEqual(summary.steps, 3 * 9)
        XCTAssertGreaterThan(events, 3 * 9)
        let final = try XCTUnwrap(summary.final?.test)
        XCTAssertGreaterThan(final.accuracy, 0.7, "the quadrant problem is easy; got \(final.accuracy)")

        let run = RunDirectory(directory)
        for file in [run.last, run.best, run.metrics, run.summary] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: file.path), file.path)
        }
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasSuffix(".tmp") }
        XCTAssertEqual(leftovers, [], "atomic writes leave no temporary files")

        let csv = try String(contentsOf: run.metrics, encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(csv.count, 4)
        XCTAssertEqual(csv[0], "epoch,learning_rate,train_loss,train_accuracy,validation_loss,validation_accuracy,test_loss,test_accuracy,epoch_seconds,images_per_second,data_wait_seconds")
        XCTAssertTrue(csv[1].hasPrefix("1,0.1,"), String(csv[1]))
        // Cosine over 3 epochs, per epoch: 0.1, 0.075, 0.025.
        XCTAssertTrue(csv[2].hasPrefix("2,0.075,"), String(csv[2]))

        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: run.summary)) as? [String: Any]
        XCTAssertEqual(json?["completedEpochs"] as? Int, 3)
        XCTAssertEqual((json?["history"] as? [Any])?.count, 3)

        // Checkpoints load as plain models; `last` carries the optimizer state, `best` not.
        let (lastGraph, checkpoint, optimizerState) = try TrainingCheckpoint.read(from: run.last)
        XCTAssertEqual(checkpoint?.completedEpochs, 3)
        XCTAssertEqual(Set(optimizerState.keys), Set(trainer.graph.parameters.keys.filter { !$0.contains("running") && !$0.contains("num_batches") }.map { "momentum/\($0)" }))
        XCTAssertEqual(Set(try ModelFile.load(from: run.last).parameters.keys), Set(lastGraph.parameters.keys))
        let best = try TrainingCheckpoint.read(from: run.best)
        XCTAssertEqual(best.optimizerState.count, 0)
        XCTAssertEqual(best.checkpoint?.bestEpoch, summary.bestEpoch)
        XCTAssertEqual(best.checkpoint?.completedEpochs, summary.bestEpoch)
    }

    /// Stopping after epoch 1 and resuming ends with exactly the weights, running statistics
    /// and momentum of an uninterrupted run.
    func testResumeEndsWithTheUninterruptedWeights() throws {
        let train = Self.quadrants(count: 160, seed: 1), test = Self.quadrants(count: 48, seed: 2)
        let whole = runDirectory(), split = runDirectory()
        try Trainer(graph: try Self.model(seed: 3), trainingSet: train, testSet: test, configuration: Self.configuration(),
                    directory: whole).run()
        try Trainer(graph: try Self.model(seed: 3), trainingSet: train, testSet: test, configuration: Self.configuration(),
                    directory: split).run(stoppingAfterEpoch: 1)
        let resumed = try Trainer(resuming: split, trainingSet: train, testSet: test)
        XCTAssertEqual(resumed.state.completedEpochs, 1)
        try resumed.run()

        let a = try SafetensorsFile.read(from: RunDirectory(whole).last)
        let b = try SafetensorsFile.read(from: RunDirectory(split).last)
        XCTAssertEqual(Set(a.tensors.keys), Set(b.tensors.keys))
        for (name, tensor) in a.tensors {
            XCTAssertEqual(bytes(tensor), b.tensors[name].map(bytes), "\(name) differs after resume")
        }
        let metricsA = try TrainingCheckpoint.read(from: RunDirectory(whole).last).checkpoint!.history
        let metricsB = try TrainingCheckpoint.read(from: RunDirectory(split).last).checkpoint!.history
        XCTAssertEqual(metricsA.map(\.trainLoss), metricsB.map(\.trainLoss))
        XCTAssertEqual(metricsA.map(\.test), metricsB.map(\.test))
    }

    func testResumeRefusesOtherSettingsAndNewRunRefusesAnOldDirectory() throws {
        let train = Self.quadrants(count: 96, seed: 1), test = Self.quadrants(count: 32, seed: 2)
        let directory = runDirectory()
        try Trainer(graph: try Self.model(seed: 3), trainingSet: train, testSet: test,
                    configuration: Self.configuration(epochs: 2), directory: directory).run(stoppingAfterEpoch: 1)
        var other = Self.configuration(epochs: 2)
        other.learningRate = 0.5
        XCTAssertThrowsError(try Trainer(resuming: directory, trainingSet: train, testSet: test, configuration: other)) { error in
            XCTAssertTrue("\(error)".contains("learningRate: 0.1 vs 0.5"), "\(error)")
        }
        XCTAssertThrowsError(try Trainer(resuming: directory, trainingSet: Self.quadrants(count: 80, seed: 1), testSet: test)) { error in
            XCTAssertTrue("\(error)".contains("training samples"), "\(error)")
        }
        XCTAssertThrowsError(try Trainer(graph: try Self.model(seed: 3), trainingSet: train, testSet: test,
                                         configuration: Self.configuration(), directory: directory)) { error in
            XCTAssertTrue("\(error)".contains("already holds a training run"), "\(error)")
        }
        XCTAssertThrowsError(try Trainer(resuming: runDirectory(), trainingSet: train, testSet: test)) { error in
            XCTAssertTrue("\(error)".contains("no checkpoint to resume from"), "\(error)")
        }
        // Training longer is allowed.
        var longer = Self.configuration(epochs: 3)
        longer.threads = 2
        XCTAssertNoThrow(try Trainer(resuming: directory, trainingSet: train, testSet: test, configuration: longer))
    }

    /// Data that turns NaN in epoch 2 stops the run at the first step that reads it (step 7),
    /// naming the input as where the NaN is, and `last` keeps epoch 1: whether the NaN reaches
    /// the loss (no ReLU), or a ReLU hides it from the loss (ReLU maps NaN to 0) but not from
    /// the gradients, which every step checks, with or without clipping.
    func testNaNStopsAndKeepsTheLastGoodCheckpoint() throws {
        var configuration = Self.configuration()
        configuration.validationFraction = 0
        configuration.augmentation = "none"
        let test = Self.quadrants(count: 32, seed: 2)
        for (relu, clip) in [(false, false), (true, false), (true, true)] {
            // Epoch 1 reads the 96 training samples; every later read is poisoned.
            let poisoned = PoisonedDataset(Self.quadrants(count: 96, seed: 1), cleanReads: 96, reads: Counter())
            let directory = runDirectory()
            var configuration = configuration
            configuration.gradientClipNorm = clip ? 10 : 0
            let trainer = try Trainer(graph: try Self.model(seed: 3, relu: relu), trainingSet: poisoned, testSet: test,
                                      configuration: configuration, directory: directory)
            XCTAssertThrowsError(try trainer.run()) { error in
                guard case TrainingError.nonFiniteValue(step: 7, at: .input) = error else {
                    return XCTFail("expected a stop at step 7 naming the input (relu \(relu), clip \(clip)), got \(error)")
                }
                XCTAssertTrue("\(error)".contains("NaN or infinity at step 7 in the input images (sample "), "\(error)")
            }
            try assertLastKeepsEpochOne(directory)
        }
    }

    /// A NaN or infinity that enters anywhere else also stops the step it appears in, naming
    /// the step and the node: a weight (set to infinity between epochs, as a diverged update
    /// or a corrupt model would), a node's output (weights of 1e38 overflow the convolution)
    /// and a gradient (an objective whose output gradient turns NaN while its loss is finite).
    /// `last` keeps epoch 1 each time.
    func testNonFiniteValuesNameTheNodeAndTheStep() throws {
        var configuration = Self.configuration()
        configuration.validationFraction = 0
        configuration.augmentation = "none"
        let train = Self.quadrants(count: 96, seed: 1), test = Self.quadrants(count: 32, seed: 2)
        let cases: [(inject: (Trainer, PoisonedGradientObjective) -> Void, expected: NonFinitePlace, message: String)] = [
            ({ trainer, _ in trainer.graph.parameters["fc.weight"]!.floats[5] = .infinity },
             .parameter(node: "fc", parameter: "fc.weight"), "in the weights of node 'fc' (fc.weight)"),
            ({ trainer, _ in
                let weight = trainer.graph.parameters["conv.weight"]!.floats
                for i in weight.indices { weight[i] = 1e38 }
             }, .activation(node: "conv"), "in the output of node 'conv'"),
            ({ _, objective in objective.poisoned = true },
             .gradient(node: "fc", parameter: "fc.bias"), "in the gradient of node 'fc' (fc.bias)"),
        ]
        for (inject, expected, message) in cases {
            let directory = runDirectory()
            let objective = PoisonedGradientObjective()
            let trainer = try Trainer(graph: try Self.model(seed: 3, relu: false), trainingSet: train, testSet: test,
                                      configuration: configuration, directory: directory, objective: objective)
            try trainer.run(stoppingAfterEpoch: 1)
            inject(trainer, objective)
            XCTAssertThrowsError(try trainer.run()) { error in
                XCTAssertEqual(error as? TrainingError, .nonFiniteValue(step: 7, at: expected), "\(error)")
                XCTAssertTrue("\(error)".contains("NaN or infinity at step 7 \(message)"), "\(error)")
            }
            try assertLastKeepsEpochOne(directory)
        }
    }

    /// A checkpoint write that fails (here `last.safetensors` is a directory, so the rename
    /// fails; a full disk in bench/crash-campaign.sh) stops the run with the write's error and
    /// leaves the trainer's state at the last epoch saved, which is what the CLI reports as kept.
    func testFailedCheckpointWriteKeepsTheLastSavedState() throws {
        var configuration = Self.configuration()
        configuration.validationFraction = 0
        let directory = runDirectory()
        let trainer = try Trainer(graph: try Self.model(seed: 3), trainingSet: Self.quadrants(count: 96, seed: 1),
                                  testSet: Self.quadrants(count: 32, seed: 2), configuration: configuration, directory: directory)
        try trainer.run(stoppingAfterEpoch: 1)
        let last = RunDirectory(directory).last
        try FileManager.default.removeItem(at: last)
        try FileManager.default.createDirectory(at: last.appendingPathComponent("blocker"), withIntermediateDirectories: true)
        XCTAssertThrowsError(try trainer.run(stoppingAfterEpoch: 2)) { error in
            XCTAssertTrue("\(error)".contains("last.safetensors"), "\(error)")
        }
        XCTAssertEqual(trainer.state.completedEpochs, 1)
        XCTAssertEqual(trainer.state.history.count, 1)
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasSuffix(".tmp") }
        XCTAssertEqual(leftovers, [], "the failed write's temporary file is removed")
    }

    /// `last.safetensors` in `directory` holds epoch 1 with finite parameters.
    func assertLastKeepsEpochOne(_ directory: URL, file: StaticString = #filePath, line: UInt = #line) throws {
        let saved = try TrainingCheckpoint.read(from: RunDirectory(directory).last)
        XCTAssertEqual(saved.checkpoint?.completedEpochs, 1, file: file, line: line)
        for (name, tensor) in saved.graph.parameters where tensor.dtype == .f32 {
            XCTAssertFalse(tensor.floats.contains { !$0.isFinite }, "\(name) is not finite in the kept checkpoint", file: file, line: line)
        }
    }

    /// The check every step makes of the gradients: any NaN or infinity, wherever it is in a
    /// tensor (the vector part or the tail), and none in finite values, however large.
    func testAllFiniteFindsEveryNonFiniteElement() throws {
        for count in [0, 1, 15, 16, 17, 100] {
            let tensor = Tensor(zeros: [count])
            for i in 0..<count { tensor.floats[i] = i % 2 == 0 ? Float.greatestFiniteMagnitude : -1e-30 }
            XCTAssertTrue(NonFiniteDiagnosis.allFinite(tensor), "count \(count)")
            for i in 0..<count {
                for bad in [Float.nan, .infinity, -.infinity] {
                    let saved = tensor.floats[i]
                    tensor.floats[i] = bad
                    XCTAssertFalse(NonFiniteDiagnosis.allFinite(tensor), "\(bad) at \(i) of \(count)")
                    tensor.floats[i] = saved
                }
            }
        }
    }

    /// Two micro-batches of 8 accumulated give the step of one batch of 16 (no batch norm or
    /// dropout, so the gradients are the same mean).
    func testGradientAccumulationMatchesTheLargerBatch() throws {
        let train = Self.quadrants(count: 64, seed: 1), test = Self.quadrants(count: 16, seed: 2)
        func plainModel() throws -> Graph {
            var b = GraphBuilder()
            var x = b.input([1, 12, 12])
            x = b.conv2d(x, "conv", outChannels: 4, kernelSize: 3, padding: 1)
            x = b.relu(x)
            x = b.avgPool(x, kernelSize: 6)
            x = b.flatten(x)
            x = b.linear(x, "fc", outFeatures: 4)
            return try b.build(outputs: [x], seed: 5)
        }
        var large = TrainingConfiguration()
        large.epochs = 1
        large.batchSize = 16
        large.threads = 1
        large.schedule = "constant"
        var small = large
        small.batchSize = 8
        small.accumulationSteps = 2
        let a = try Trainer(graph: try plainModel(), trainingSet: train, testSet: test, configuration: large,
                            directory: runDirectory())
        let b = try Trainer(graph: try plainModel(), trainingSet: train, testSet: test, configuration: small,
                            directory: runDirectory())
        try a.run()
        try b.run()
        XCTAssertEqual(a.state.steps, 4)
        XCTAssertEqual(b.state.steps, 4)
        for (name, tensor) in a.graph.parameters {
            let other = try XCTUnwrap(b.graph.parameters[name])
            let worst = zip(tensor.scalars, other.scalars).map { abs($0 - $1) }.max() ?? 0
            XCTAssertLessThan(worst, 1e-5, "\(name): worst difference \(worst)")
        }
    }

    func testOptimizersAndSchedulesFromTheConfiguration() throws {
        var c = TrainingConfiguration()
        c.optimizer = .adamw
        c.weightDecay = 0.01
        XCTAssertTrue(c.optimizer.make(c) is AdamW)
        c.optimizer = .adam
        XCTAssertTrue(c.optimizer.make(c) is Adam)
        c.schedule = "step:2,gamma=0.5"
        c.learningRate = 1
        c.epochs = 6
        let schedule = try c.learningRateSchedule(stepsPerEpoch: 10)
        XCTAssertEqual(schedule.learningRate(at: 19), 1)
        XCTAssertEqual(schedule.learningRate(at: 20), 0.5)
        c.schedule = "bogus"
        XCTAssertThrowsError(try c.validate()) { XCTAssertTrue("\($0)".contains("bogus"), "\($0)") }
        var bad = TrainingConfiguration()
        bad.batchSize = 0
        bad.momentum = 1.5
        XCTAssertThrowsError(try bad.validate()) { error in
            XCTAssertTrue("\(error)".contains("batch size") && "\(error)".contains("momentum"), "\(error)")
        }
    }

    func testTrainedModelWithAdamWAndClippingLearns() throws {
        var c = Self.configuration(epochs: 3)
        c.optimizer = .adamw
        c.learningRate = 0.01
        c.weightDecay = 0.01
        c.gradientClipNorm = 1
        c.schedule = "onecycle"
        let trainer = try Trainer(graph: try Self.model(seed: 3), trainingSet: Self.quadrants(count: 192, seed: 1),
                                  testSet: Self.quadrants(count: 64, seed: 2), configuration: c, directory: runDirectory())
        let summary = try trainer.run()
        XCTAssertGreaterThan(summary.final?.test?.accuracy ?? 0, 0.6)
    }

    func testModelThatDoesNotFitTheDataIsRefused() throws {
        var b = GraphBuilder()
        var x = b.input([1, 12, 12])
        x = b.flatten(x)
        x = b.linear(x, "fc", outFeatures: 3)
        let graph = try b.build(outputs: [x], seed: 1)
        XCTAssertThrowsError(try Trainer(graph: graph, trainingSet: Self.quadrants(count: 32, seed: 1), testSet: nil,
                                         configuration: Self.configuration(), directory: runDirectory())) { error in
            XCTAssertTrue("\(error)".contains("4 classes"), "\(error)")
        }
    }

    /// AdamW for one epoch, then SGD for two (the seed's recipe): each phase has its own
    /// optimizer and schedule, and a run stopped at the boundary or inside the second phase
    /// resumes to the uninterrupted weights.
    func testLaterPhasesSwitchOptimizerAndResumeExactly() throws {
        let train = Self.quadrants(count: 128, seed: 1), test = Self.quadrants(count: 32, seed: 2)
        var c = Self.configuration(epochs: 1)
        c.optimizer = .adamw
        c.learningRate = 0.002
        c.weightDecay = 0.01
        c.laterPhases = [try TrainingPhase(parsing: "sgd:epochs=2,lr=0.01,schedule=constant")]
        XCTAssertEqual(c.totalEpochs, 3)
        let whole = runDirectory()
        let summary = try Trainer(graph: try Self.model(seed: 3), trainingSet: train, testSet: test, configuration: c,
                                  directory: whole).run()
        XCTAssertEqual(summary.completedEpochs, 3)
        XCTAssertEqual(summary.history.map(\.learningRate), [0.002, 0.01, 0.01])
        let state = try TrainingCheckpoint.read(from: RunDirectory(whole).last).optimizerState
        XCTAssertFalse(state.isEmpty)
        XCTAssertTrue(state.keys.allSatisfy { $0.hasPrefix("momentum/") }, "the last phase is SGD: \(state.keys.sorted())")

        for stop in [1, 2] {
            let split = runDirectory()
            try Trainer(graph: try Self.model(seed: 3), trainingSet: train, testSet: test, configuration: c,
                        directory: split).run(stoppingAfterEpoch: stop)
            try Trainer(resuming: split, trainingSet: train, testSet: test).run()
            let a = try SafetensorsFile.read(from: RunDirectory(whole).last)
            let b = try SafetensorsFile.read(from: RunDirectory(split).last)
            XCTAssertEqual(Set(a.tensors.keys), Set(b.tensors.keys))
            for (name, tensor) in a.tensors {
                XCTAssertEqual(bytes(tensor), b.tensors[name].map(bytes), "\(name) differs after a stop at epoch \(stop)")
            }
        }
        // With phases, the first phase's epochs cannot change on resume (it would move the phases).
        var longer = c
        longer.epochs = 2
        XCTAssertThrowsError(try Trainer(resuming: whole, trainingSet: train, testSet: test, configuration: longer)) {
            XCTAssertTrue("\($0)".contains("epochs"), "\($0)")
        }
    }

    func testPhaseTextFormAndItsErrors() throws {
        let phase = try TrainingPhase(parsing: "sgd:epochs=50,lr=1e-3")
        XCTAssertEqual(phase, TrainingPhase(optimizer: .sgd, epochs: 50, learningRate: 1e-3, weightDecay: 5e-4))
        let stepped = try TrainingPhase(parsing: "adamw:epochs=5,wd=0.05,schedule=step:2,gamma=0.5")
        XCTAssertEqual(stepped.schedule, "step:2,gamma=0.5")
        XCTAssertEqual(stepped.learningRate, 1e-3)
        XCTAssertEqual(stepped.weightDecay, 0.05)
        for (text, expected) in [("lion:epochs=3", "unknown optimizer"), ("sgd:lr=0.1", "give epochs=E"),
                                 ("sgd:epochs=x", "not an integer"), ("sgd:epochs=2,beta=3", "unknown setting 'beta'")] {
            XCTAssertThrowsError(try TrainingPhase(parsing: text), text) {
                XCTAssertTrue("\($0)".contains(expected), "\(text): \($0)")
            }
        }
        var c = TrainingConfiguration()
        c.laterPhases = [TrainingPhase(optimizer: .sgd, epochs: 0, schedule: "sometimes")]
        XCTAssertThrowsError(try c.validate()) {
            XCTAssertTrue("\($0)".contains("epochs must be at least 1") && "\($0)".contains("sometimes"), "\($0)")
        }
        // A phase that names no schedule follows cosine over its own epochs.
        XCTAssertEqual(c.phase(ofEpoch: 9).index, 0)
        XCTAssertEqual(c.phase(ofEpoch: 10).index, 1)
        XCTAssertEqual(c.phase(ofEpoch: 10).firstEpoch, 10)
    }

    /// Top-1, top-5 and the confusion matrix against a count done by hand.
    func testEvaluatorCountsTopKAndConfusion() throws {
        // A linear model whose logits are fixed: class scores 0, 1, ..., 5 for every image
        // (zero weights, bias = class index), so every prediction is class 5 and the label's
        // rank is 5 - label.
        var b = GraphBuilder()
        var x = b.input([1, 2, 2])
        x = b.flatten(x)
        x = b.linear(x, "fc", outFeatures: 6)
        var graph = try b.build(outputs: [x], seed: 1)
        graph.parameters["fc.weight"] = Tensor(zeros: [6, 4])
        graph.parameters["fc.bias"] = try Tensor(shape: [6], values: (0..<6).map(Float.init))
        let labels = [0, 1, 2, 3, 4, 5, 5, 0, 1]
        let data = InMemoryDataset(sampleShape: [1, 2, 2], classes: 6, classNames: nil,
                                   pixels: [UInt8](repeating: 9, count: labels.count * 4), labels: labels)
        let result = try Evaluator(graph: graph, batchSize: 4, threads: 1).evaluate(data, transforms: [])
        XCTAssertEqual(result.samples, 9)
        XCTAssertEqual(result.top1, 2.0 / 9, accuracy: 1e-12)
        // Top-5 misses only label 0 (rank 5): two samples.
        XCTAssertEqual(result.top5, 7.0 / 9, accuracy: 1e-12)
        XCTAssertEqual(result.confusion[0], [0, 0, 0, 0, 0, 2])
        XCTAssertEqual(result.confusion[5], [0, 0, 0, 0, 0, 2])
        XCTAssertEqual(result.confusion.flatMap { $0 }.reduce(0, +), 9)
        // Cross-entropy of logits 0...5 at label l: logsumexp(0...5) - l.
        let logSumExp = log((0..<6).map { exp(Double($0)) }.reduce(0, +))
        let expected = labels.map { logSumExp - Double($0) }.reduce(0, +) / 9
        XCTAssertEqual(result.loss, expected, accuracy: 1e-5)
    }
}

func bytes(_ tensor: Tensor) -> Data { Data(bytes: tensor.storage.pointer, count: tensor.byteCount) }

/// Counts reads across threads.
final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var value = 0
    func next() -> Int {
        lock.lock()
        defer { lock.unlock() }
        value += 1
        return value
    }
}

/// A data set whose images turn NaN after `cleanReads` samples have been read.
struct PoisonedDataset: Dataset {
    let base: InMemoryDataset
    let cleanReads: Int
    let reads: Counter

    init(_ base: InMemoryDataset, cleanReads: Int, reads: Counter) {
        self.base = base
        self.cleanReads = cleanReads
        self.reads = reads
    }

    var count: Int { base.count }
    var classes: Int { base.classes }
    var classNames: [String]? { base.classNames }
    var sampleShape: Shape { base.sampleShape }
    func label(at index: Int) -> Int { base.label(at: index) }
    func sample(at index: Int) throws -> Sample {
        let sample = base.sample(at: index)
        guard reads.next() > cleanReads else { return sample }
        return Sample(image: Tensor(repeating: .nan, shape: sample.image.shape), label: sample.label)
    }
}

/// Cross-entropy whose output gradient turns NaN once `poisoned` is set, while its loss stays
/// finite: a fault that only the gradients show.
final class PoisonedGradientObjective: TrainingObjective {
    var poisoned = false
    var identity: String? { nil }
    var extraOutputs: Int { 0 }
    func check(graph: Graph, sampleShape: Shape, classes: Int) throws {}
    func loss(outputs: [Tensor], batch: Batch, configuration: TrainingConfiguration) throws -> (loss: Float, outputGradients: [Tensor]) {
        let (loss, gradient) = try softmaxCrossEntropy(logits: outputs[0], labels: batch.labels)
        if poisoned { gradient.floats[0] = .nan }
        return (loss, [gradient])
    }
}
