import Foundation
import PareCore
import PareData
import PareIO
import PareModels
import PareTrain
import XCTest

@testable import PareCompress

/// Iterative pruning with fine-tuning: files, records, and exact resume after a stop.
final class PruningRunTests: XCTestCase {
    private var directories: [URL] = []
    override func tearDown() {
        for url in directories { try? FileManager.default.removeItem(at: url) }
    }
    private func temporary() -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("pare-prune-\(UUID().uuidString)")
        directories.append(url)
        return url
    }

    private func model() throws -> Graph {
        var b = GraphBuilder()
        var x = b.input([1, 12, 12])
        x = b.relu(b.batchNorm(b.conv2d(x, "conv1", outChannels: 16, kernelSize: 3, padding: 1, bias: false), "bn1"))
        x = b.relu(b.batchNorm(b.conv2d(x, "conv2", outChannels: 16, kernelSize: 3, padding: 1, bias: false), "bn2"))
        x = b.linear(b.flatten(b.avgPool(x, kernelSize: 6)), "fc", outFeatures: 4)
        return try b.build(outputs: [x], seed: 2)
    }

    private func configuration() -> PruningRunConfiguration {
        var c = PruningRunConfiguration()
        c.settings.criterion = .taylor
        c.settings.scope = .global
        c.settings.ratio = 0.5
        c.settings.roundTo = 1
        c.schedule = .steps(count: 2, geometric: false)
        c.finetuneEpochs = 2
        c.training.batchSize = 32
        c.training.learningRate = 0.05
        c.training.validationFraction = 0.2
        c.calibrationBatches = 2
        c.benchmark = .init(batch: 1, threads: 2, warmup: 1, runs: 2)
        return c
    }

    func testIterativeRunWritesEveryStepAndResumesExactly() throws {
        let train = quadrants(count: 256, seed: 1), test = quadrants(count: 64, seed: 2)
        let whole = temporary()
        let records = try PruningRun(graph: try model(), directory: whole, configuration: configuration(),
                                     trainingSet: train, testSet: test).run()
        XCTAssertEqual(records.map(\.step), [0, 1, 2])
        XCTAssertEqual(records.map(\.ratio), [0, 0.25, 0.5])
        XCTAssertTrue(zip(records, records.dropFirst()).allSatisfy { $0.parameters > $1.parameters })
        XCTAssertTrue(records.allSatisfy { $0.validationAccuracy != nil && $0.testAccuracy != nil && $0.latencyMilliseconds > 0 })
        for file in ["step-0.safetensors", "step-1.safetensors", "step-2.safetensors", "pruned.safetensors", "plan.json",
                     "plan-1.json", "plan-2.json", "steps.csv", "steps.json", "run.json", "accuracy-vs-parameters.svg",
                     "step-1/best.safetensors"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: whole.appendingPathComponent(file).path), file)
        }
        let csv = try String(contentsOf: whole.appendingPathComponent("steps.csv"), encoding: .utf8)
        XCTAssertEqual(csv.split(separator: "\n").count, 4)
        XCTAssertTrue(csv.hasPrefix("step,ratio,removed_channels,parameters,macs,file_bytes,latency_ms_batch1_threads2,"))

        // The composite plan applied to the original gives the final architecture.
        let plan = try PruningPlan.read(from: whole.appendingPathComponent("plan.json"))
        let original = try ModelFile.load(from: whole.appendingPathComponent("step-0.safetensors"))
        let final = try ModelFile.load(from: whole.appendingPathComponent("pruned.safetensors"))
        let replayed = try ChannelSurgery.apply(plan, to: original)
        XCTAssertEqual(replayed.nodes, final.nodes)
        XCTAssertEqual(try replayed.trainableParameterCount(), records.last!.parameters)

        // Stopped after step 1 (in a fresh process: only the files carry over), then resumed.
        let parted = temporary()
        try PruningRun(graph: try model(), directory: parted, configuration: configuration(), trainingSet: train,
                       testSet: test).run(stoppingAfterStep: 1)
        let resumed = try PruningRun(resuming: parted, trainingSet: train, testSet: test)
        XCTAssertEqual(resumed.records.count, 2)
        let again = try resumed.run()
        XCTAssertEqual(again.map(\.parameters), records.map(\.parameters))
        XCTAssertEqual(again.map(\.testAccuracy), records.map(\.testAccuracy))
        let resumedFinal = try ModelFile.load(from: parted.appendingPathComponent("pruned.safetensors"))
        for (name, tensor) in final.parameters where tensor.dtype == .f32 {
            XCTAssertEqual(resumedFinal.parameters[name]?.scalars, tensor.scalars, name)
        }
        XCTAssertThrowsError(try PruningRun(graph: try model(), directory: whole, configuration: configuration(),
                                            trainingSet: train, testSet: test)) {
            XCTAssertTrue("\($0)".contains("holds a pruning run already"), "\($0)")
        }
    }

    func testStepsThatRoundingLeavesEmptyAreRecordedAndTheScheduleGoesOn() throws {
        var c = PruningRunConfiguration()
        c.settings.ratio = 0.5  // 16-channel groups, kept widths rounded to 8: only step 4 (16 -> 8) removes
        c.schedule = .steps(count: 4, geometric: false)
        c.benchmark = .init(batch: 1, threads: 2, warmup: 1, runs: 1)
        let records = try PruningRun(graph: try model(), directory: temporary(), configuration: c, trainingSet: nil,
                                     testSet: nil).run()
        XCTAssertEqual(records.map(\.step), [0, 1, 2, 3, 4])
        XCTAssertEqual(records.map { $0.removedChannels > 0 }, [false, false, false, false, true])
        XCTAssertLessThan(records[4].parameters, records[3].parameters)
        XCTAssertNil(records[4].testAccuracy, "no data, no accuracy")
    }

    /// `pare prune --teacher`: every step fine-tunes against the teacher (the step's trainer
    /// checkpoint records the distillation objective), resumes only with that teacher, and
    /// a teacher without distillation settings (or the reverse) is refused.
    func testFinetuningDistilsFromTheTeacher() throws {
        let train = quadrants(count: 128, seed: 1), test = quadrants(count: 32, seed: 2)
        var c = configuration()
        c.schedule = .steps(count: 2, geometric: false)
        c.finetuneEpochs = 1
        c.distillation = DistillationSettings(alpha: 0.7, temperature: 4)
        let teacher = try model()
        let directory = temporary()
        try PruningRun(graph: try model(), directory: directory, configuration: c, trainingSet: train, testSet: test,
                       teacher: teacher).run(stoppingAfterStep: 1)
        let checkpoint = try XCTUnwrap(TrainingCheckpoint.read(from: directory.appendingPathComponent("step-1/last.safetensors")).checkpoint)
        XCTAssertTrue(checkpoint.objective?.contains("\"alpha\":0.7") == true, checkpoint.objective ?? "nil")
        XCTAssertThrowsError(try PruningRun(resuming: directory, trainingSet: train, testSet: test)) {
            XCTAssertTrue("\($0)".contains("give --teacher"), "\($0)")
        }
        let records = try PruningRun(resuming: directory, trainingSet: train, testSet: test, teacher: teacher).run()
        XCTAssertEqual(records.map(\.step), [0, 1, 2])

        XCTAssertThrowsError(try PruningRun(graph: try model(), directory: temporary(), configuration: configuration(),
                                            trainingSet: train, testSet: test, teacher: teacher)) {
            XCTAssertTrue("\($0)".contains("does not distil"), "\($0)")
        }
        var wrongTeacher = GraphBuilder()
        let x = wrongTeacher.linear(wrongTeacher.flatten(wrongTeacher.input([1, 12, 12])), "fc", outFeatures: 3)
        XCTAssertThrowsError(try PruningRun(graph: try model(), directory: temporary(), configuration: c, trainingSet: train,
                                            testSet: test, teacher: try wrongTeacher.build(outputs: [x], seed: 1))) {
            XCTAssertTrue("\($0)".contains("teacher gives 3 outputs"), "\($0)")
        }
    }

    func testDataThatDoesNotFitTheModelIsRefused() throws {
        let wrong = InMemoryDataset(sampleShape: [1, 12, 12], classes: 3, classNames: nil,
                                    pixels: Array(repeating: 0, count: 144 * 3), labels: [0, 1, 2])
        XCTAssertThrowsError(try PruningRun(graph: try model(), directory: temporary(), configuration: configuration(),
                                            trainingSet: wrong, testSet: nil)) {
            XCTAssertTrue("\($0)".contains("3 classes"), "\($0)")
        }
    }
}

/// Network slimming's penalty: training with `bnSparsity` drives batch-norm scales down.
final class BatchNormSparsityTests: XCTestCase {
    func testSparsityPenaltyShrinksBatchNormScales() throws {
        func gammaL1(_ lambda: Float) throws -> Float {
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("pare-slim-\(UUID().uuidString)")
            defer { try? FileManager.default.removeItem(at: directory) }
            var b = GraphBuilder()
            var x = b.input([1, 12, 12])
            x = b.relu(b.batchNorm(b.conv2d(x, "conv1", outChannels: 8, kernelSize: 3, padding: 1, bias: false), "bn1"))
            x = b.linear(b.flatten(b.avgPool(x, kernelSize: 6)), "fc", outFeatures: 4)
            let graph = try b.build(outputs: [x], seed: 3)
            var c = TrainingConfiguration()
            c.epochs = 2
            c.batchSize = 16
            c.bnSparsity = lambda
            c.weightDecay = 0
            let data = InMemoryDataset(sampleShape: [1, 12, 12], classes: 4, classNames: nil,
                                       pixels: (0..<(144 * 64)).map { UInt8(($0 * 37) % 251) }, labels: (0..<64).map { $0 % 4 })
            let trainer = try Trainer(graph: graph, trainingSet: data, testSet: data, configuration: c, directory: directory)
            try trainer.run()
            return trainer.graph.parameters["bn1.weight"]!.scalars.map(abs).reduce(0, +)
        }
        let plain = try gammaL1(0), slim = try gammaL1(0.05)
        // 8 SGD steps (4 batches x 2 epochs, momentum 0.9, lr up to 0.05) with λ 0.05 pull every
        // γ towards 0 by a few hundredths.
        XCTAssertLessThan(slim, plain - 0.2, "γ L1 \(slim) with the penalty vs \(plain) without")
        XCTAssertThrowsError(try { var c = TrainingConfiguration(); c.bnSparsity = -1; try c.validate() }())
    }
}
