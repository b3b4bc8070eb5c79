import Foundation
@testable import PareCore
import PareData
import PareIO
import PareModels
import PareTrain
import XCTest

@testable import PareCompress

/// The straight-through estimator of fake quantisation: the kernels against the reference in
/// Double and its central differences, and the training executor's backward pass against
/// gradients written out by hand.
final class FakeQuantizationGradientTests: XCTestCase {
    /// Away from the rounding steps the fake-quantised function moves one for one with its
    /// input inside the clipping range and not at all outside: a central difference over a
    /// whole number of steps is exactly 1 or 0, which is the estimator's gradient. At the clip
    /// itself the ends are inside (mask 1), the next value beyond them outside (mask 0).
    func testStraightThroughEstimatorIsOneInsideTheRangeAndZeroOutside() {
        for q in [ActivationQuantization(scale: 0.05, dtype: .i8), ActivationQuantization(scale: 0.03, dtype: .u8)] {
            let s = Double(q.scale)
            let clip = q.clippingRange
            func fakeQuantize(_ x: Double) -> Double {
                var out = [0.0]
                referenceFakeQuantizeForward(output: &out, input: [x], quantization: q)
                return out[0]
            }
            // A quarter of a step past a level: far from every rounding boundary.
            let levels = stride(from: -200, through: 330, by: 7).map { (Double($0) + 0.25) * s }
            var inside = 0, outside = 0
            for x in levels {
                let h = 3 * s
                // Only where x ± h lie on the same side of both clip ends.
                let low = Double(clip.lowerBound), high = Double(clip.upperBound)
                guard (x - h > low && x + h < high) || x + h < low || x - h > high else { continue }
                let numeric = (fakeQuantize(x + h) - fakeQuantize(x - h)) / (2 * h)
                var gradient = [0.0]
                referenceFakeQuantizeBackward(dInput: &gradient, dOutput: [1], input: [x], quantization: q)
                XCTAssertEqual(gradient[0], numeric, accuracy: 1e-9, "\(q.dtype) at x = \(x)")
                if numeric == 1 { inside += 1 } else { outside += 1 }
            }
            XCTAssertGreaterThan(inside, 10)
            XCTAssertGreaterThan(outside, 5)

            // The mask at the clip, and the Float kernel: its values are the int8 model's
            // (``ActivationQuantization/fakeQuantize(_:)``, ties to even in Float arithmetic), its
            // mask the reference estimator's.
            let probes: [Float] = [clip.lowerBound, clip.lowerBound.nextDown, clip.upperBound, clip.upperBound.nextUp,
                                   0, clip.upperBound * 0.5, clip.upperBound * 2, clip.lowerBound - 1, q.scale * 1.5]
            var values = probes
            var mask = [UInt8](repeating: 9, count: probes.count)
            values.withUnsafeMutableBufferPointer { v in
                mask.withUnsafeMutableBufferPointer { fakeQuantizeForward(v.baseAddress!, mask: $0.baseAddress!, count: probes.count, quantization: q) }
            }
            var pass = [Double](repeating: 0, count: probes.count)
            referenceFakeQuantizeBackward(dInput: &pass, dOutput: [Double](repeating: 1, count: probes.count),
                                          input: probes.map(Double.init), quantization: q)
            for k in probes.indices {
                XCTAssertEqual(values[k], q.fakeQuantize(probes[k]), "\(q.dtype) forward at \(probes[k])")
                XCTAssertEqual(Double(mask[k]), pass[k], "\(q.dtype) mask at \(probes[k])")
            }
            XCTAssertEqual(mask[2], 1, "the upper end is inside")
            XCTAssertEqual(mask[3], 0, "just past the upper end is outside")
            if q.dtype == .i8 {
                XCTAssertEqual(mask[0], 1, "the lower end is inside")
                XCTAssertEqual(mask[1], 0, "just below the lower end is outside")
            }
            var gradient: [Float] = [1, 1, 1, 1, 1, 1, 1, 1, 1]
            gradient.withUnsafeMutableBufferPointer { fakeQuantizeBackward($0.baseAddress!, mask: mask, count: probes.count) }
            XCTAssertEqual(gradient, mask.map(Float.init))
        }
    }

    /// input → fc1 → relu (fake-quantised, u8, a range that clips) → fc2: the training
    /// executor's weight gradients equal the straight-through estimator's, written out in Double.
    func testTrainingExecutorMasksTheGradientOutsideTheRange() throws {
        let graph = try randomized(Graph(nodes: [
            Node(name: "input", op: .input(shape: [6]), inputs: []),
            Node(name: "fc1", op: .linear(LinearAttributes(outFeatures: 8)), inputs: [0]),
            Node(name: "relu", op: .relu, inputs: [1]),
            Node(name: "fc2", op: .linear(LinearAttributes(outFeatures: 3)), inputs: [2]),
        ], outputs: [3]), seed: 3)
        let batch = 5
        var generator = SeededGenerator(seed: 4)
        let input = Tensor.randomUniform([batch, 6], low: -2, high: 2, generator: &generator)
        let seed = Tensor.randomUniform([batch, 3], low: -1, high: 1, generator: &generator)
        let plan = FakeQuantizationPlan(weights: [], activations: [.init(node: "relu", unsigned: true, initialBound: 0.4)],
                                        momentum: 0.5)
        let fakeQuantization = try FakeQuantization(plan: plan)
        let executor = try DNNLExecutor(graph: graph, batchSize: batch, mode: .training, fakeQuantization: fakeQuantization)
        let output = try executor.forward([input])[0].scalars
        try executor.backward([seed])
        // The range moved halfway to the batch's extremes before rounding.
        let q = try XCTUnwrap(fakeQuantization.quantization(of: "relu"))
        let high = Double(q.clippingRange.upperBound)

        let w1 = graph.parameters["fc1.weight"]!.scalars.map(Double.init), b1 = graph.parameters["fc1.bias"]!.scalars.map(Double.init)
        let w2 = graph.parameters["fc2.weight"]!.scalars.map(Double.init), b2 = graph.parameters["fc2.bias"]!.scalars.map(Double.init)
        let x = input.scalars.map(Double.init), g = seed.scalars.map(Double.init)
        var dW1 = [Double](repeating: 0, count: 48), dW2 = [Double](repeating: 0, count: 24)
        var clipped = 0, firstBatchMaximum = 0.0
        for n in 0..<batch {
            var z = [Double](repeating: 0, count: 8), h = z, hq = z
            for o in 0..<8 {
                z[o] = b1[o] + (0..<6).reduce(0) { $0 + w1[o * 6 + $1] * x[n * 6 + $1] }
                h[o] = max(z[o], 0)
                firstBatchMaximum = max(firstBatchMaximum, h[o])
                var rounded = [0.0]
                referenceFakeQuantizeForward(output: &rounded, input: [h[o]], quantization: q)
                hq[o] = rounded[0]
                if h[o] > high { clipped += 1 }
            }
            for c in 0..<3 {
                let y = b2[c] + (0..<8).reduce(0) { $0 + w2[c * 8 + $1] * hq[$1] }
                XCTAssertEqual(Double(output[n * 3 + c]), y, accuracy: 1e-5, "forward [\(n), \(c)]")
                for o in 0..<8 { dW2[c * 8 + o] += g[n * 3 + c] * hq[o] }
            }
            for o in 0..<8 {
                var dh = (0..<3).reduce(0) { $0 + w2[$1 * 8 + o] * g[n * 3 + $1] }
                if h[o] > high { dh = 0 }   // the estimator: nothing passes where the value was clipped
                let dz = z[o] > 0 ? dh : 0
                for i in 0..<6 { dW1[o * 6 + i] += dz * x[n * 6 + i] }
            }
        }
        XCTAssertEqual(Double(fakeQuantization.ranges["relu"]!.floats[1]), 0.4 + 0.5 * (firstBatchMaximum - 0.4), accuracy: 1e-5)
        XCTAssertGreaterThan(clipped, 0, "the range must clip something for the test to mean anything")
        for (name, expected) in [("fc1.weight", dW1), ("fc2.weight", dW2)] {
            let got = executor.parameterGradients[name]!.scalars
            for k in expected.indices {
                XCTAssertEqual(Double(got[k]), expected[k], accuracy: 1e-4, "\(name)[\(k)]")
            }
        }
    }
}

/// Quantisation-aware training end to end: the fake-quantised forward against the int8 model
/// it converts to, training through the ``Trainer`` (better than post-training, exact
/// resume), and the errors.
final class QuantizationAwareTrainingTests: XCTestCase {
    private var directories: [URL] = []
    override func tearDown() {
        for url in directories { try? FileManager.default.removeItem(at: url) }
    }
    private func temporary() -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("pare-qat-\(UUID().uuidString)")
        directories.append(url)
        return url
    }

    /// The training executor's fake-quantised forward (inference mode, the same ranges) is
    /// the int8 model's: the converted graph's fake-quantised simulation (ReferenceGraphRunner)
    /// and the int8 executor agree with it to a quantisation step, on a net with every int8
    /// kernel (7-bit weights, doubled for the s8-input layers).
    func testFakeQuantizedForwardIsTheConvertedInt8Model() throws {
        let graph = try randomized(QuantizationTests.residualNetwork(), seed: 11)
        let calibration = QuantizationTests.batches(4, batch: 4, shape: [3, 8, 8], seed: 12)
        let qat = QuantizationAwareTraining(settings: QuantizationSettings(weightBits: 7))
        let start = try qat.prepare(graph, calibration: calibration)
        XCTAssertEqual(start.plan.weights.count, 6)
        XCTAssertTrue(start.plan.activations.contains { $0.node == "avgpool" && $0.rangeOf == "cat" }, "\(start.plan.activations)")
        XCTAssertFalse(start.graph.nodes.contains { if case .batchNorm = $0.op { return true } else { return false } })
        let fakeQuantization = try FakeQuantization(plan: start.plan)
        // Move the ranges away from the calibration's, as training does.
        for (k, entry) in fakeQuantization.ranges.sorted(by: { $0.key < $1.key }).enumerated() {
            entry.value.floats[1] *= 1 + 0.1 * Float(k % 3)
        }
        var trained = start.graph
        let blockName = "layer1.relu2"
        let block = trained.nodes.firstIndex { $0.name == blockName }!
        trained.outputs.append(block)
        var (int8, report) = try QuantizationAwareTraining.convert(trained, fakeQuantization: fakeQuantization)
        XCTAssertEqual(report.int8Layers, 6)
        XCTAssertEqual(int8.nodes[block].quantization?.output, fakeQuantization.quantization(of: blockName))
        int8.outputs = trained.outputs

        let batch = 3
        let input = QuantizationTests.batches(1, batch: batch, shape: [3, 8, 8], seed: 13)[0]
        let fake = try DNNLExecutor(graph: trained, batchSize: batch, mode: .inference, fakeQuantization: fakeQuantization)
            .forward([input]).map(\.scalars)
        let simulated = try ReferenceGraphRunner<Float>(graph: int8, batchSize: batch, mode: .inference).forward([input.scalars])
        let real = try DNNLExecutor(graph: int8, batchSize: batch, mode: .inference).forward([input]).map(\.scalars)
        let step = try XCTUnwrap(int8.nodes[block].quantization?.output?.scale)
        for (label, other) in [("simulation", simulated[1]), ("int8 executor", real[1])] {
            let steps = zip(fake[1], other).map { abs($0 - $1) / step }
            XCTAssertLessThanOrEqual(steps.max()!, 1.001, "\(label): worst element of \(blockName) is \(steps.max()!) steps off")
            XCTAssertGreaterThan(Double(steps.filter { $0 < 0.001 }.count) / Double(steps.count), 0.98, label)
        }
        let range = simulated[0].map(abs).max()!
        for (label, other) in [("simulation", simulated[0]), ("int8 executor", real[0])] {
            let worst = zip(fake[0], other).map { abs($0 - $1) }.max()!
            XCTAssertLessThan(worst, 0.01 * range, "\(label): worst logit differs by \(worst) (range \(range))")
        }
        // Without the fake quantisation the f32 model differs by more: the test can fail.
        let plain = try DNNLExecutor(graph: trained, batchSize: batch, mode: .inference).forward([input]).map(\.scalars)
        let unrounded = zip(plain[1], simulated[1]).map { abs($0 - $1) / step }.max()!
        XCTAssertGreaterThan(unrounded, 1.5)
        // The model given was not touched (the folded graph has its own tensors).
        XCTAssertEqual(graph.parameters["fc.weight"]!.scalars, try randomized(QuantizationTests.residualNetwork(), seed: 11)
            .parameters["fc.weight"]!.scalars)
        XCTAssertFalse(graph.parameters["fc.weight"]!.storage === start.graph.parameters["fc.weight"]!.storage)
    }

    private func model() throws -> Graph {
        var b = GraphBuilder()
        var x = b.input([1, 12, 12])
        x = b.relu(b.batchNorm(b.conv2d(x, "conv1", outChannels: 8, kernelSize: 3, padding: 1, bias: false), "bn1"))
        x = b.relu(b.batchNorm(b.conv2d(x, "conv2", outChannels: 8, kernelSize: 3, padding: 1, bias: false), "bn2"))
        x = b.linear(b.flatten(b.avgPool(x, kernelSize: 3)), "fc", outFeatures: 4)
        return try b.build(outputs: [x], seed: 5)
    }

    private func configuration(epochs: Int, learningRate: Float) -> TrainingConfiguration {
        var c = TrainingConfiguration()
        c.epochs = epochs
        c.batchSize = 16
        c.learningRate = learningRate
        c.weightDecay = 0
        c.seed = 3
        c.threads = 1
        return c
    }

    /// A briefly trained f32 model, quantised after training and then trained with fake
    /// quantisation for 3 epochs: the training loss falls, the int8 model's test loss is lower
    /// and its accuracy no worse than the post-training one's; a run stopped after its first
    /// epoch and resumed ends with the same weights and ranges.
    func testTrainingImprovesOnPostTrainingAndResumesExactly() throws {
        let train = quadrants(count: 192, seed: 1), test = quadrants(count: 64, seed: 2)
        let f32 = try model()
        try Trainer(graph: f32, trainingSet: train, testSet: test, configuration: configuration(epochs: 1, learningRate: 0.02),
                    directory: temporary()).run()
        let loader = DataLoader(train, batchSize: 16, shuffle: true, seed: 9)
        let epoch = loader.epoch(0)
        var calibration: [Tensor] = []
        while calibration.count < 4, let next = try epoch.next() { calibration.append(next.images) }
        let qat = QuantizationAwareTraining(settings: QuantizationSettings(weightBits: 7))

        var c = configuration(epochs: 3, learningRate: 0.01)
        let straight = try qat.prepare(f32, calibration: calibration)
        c.fakeQuantization = straight.plan
        let straightRun = temporary()
        let summary = try Trainer(graph: straight.graph, trainingSet: train, testSet: test, configuration: c,
                                  directory: straightRun).run()
        XCTAssertLessThan(summary.history[2].trainLoss, summary.history[0].trainLoss, "\(summary.history.map(\.trainLoss))")

        let (int8, report) = try QuantizationAwareTraining.convert(checkpoint: RunDirectory(straightRun).last)
        XCTAssertEqual(report.int8Layers, 3)
        let evaluate = { (graph: Graph) in try Evaluator(graph: graph, batchSize: 64, threads: 1).evaluate(test, transforms: []) }
        let before = try evaluate(straight.postTraining), after = try evaluate(int8)
        XCTAssertLessThan(after.loss, before.loss, "int8 test loss: post-training \(before.loss), quantisation-aware \(after.loss)")
        XCTAssertGreaterThanOrEqual(after.top1, before.top1 - 1e-9, "int8 accuracy: post-training \(before.top1), QAT \(after.top1)")
        // The int8 file reloads and runs the same.
        let file = temporary().appendingPathExtension("safetensors")
        try ModelFile.save(int8, to: file)
        XCTAssertEqual(try evaluate(try ModelFile.load(from: file)).top1, after.top1)

        // Stopped after one epoch and resumed: the same weights and ranges.
        let resumedRun = temporary()
        let again = try qat.prepare(f32, calibration: calibration)
        XCTAssertEqual(again.plan, straight.plan)
        try Trainer(graph: again.graph, trainingSet: train, testSet: test, configuration: c, directory: resumedRun)
            .run(stoppingAfterEpoch: 1)
        try Trainer(resuming: resumedRun, trainingSet: train, testSet: test).run()
        let (a, _, aState) = try TrainingCheckpoint.read(from: RunDirectory(straightRun).last)
        let (b, _, bState) = try TrainingCheckpoint.read(from: RunDirectory(resumedRun).last)
        for (name, tensor) in a.parameters where tensor.dtype == .f32 {
            XCTAssertEqual(tensor.scalars, b.parameters[name]?.scalars, name)
        }
        let ranges = aState.filter { $0.key.hasPrefix(FakeQuantization.statePrefix) }
        XCTAssertEqual(ranges.count, straight.plan.activations.filter { $0.rangeOf == nil }.count)
        for (name, tensor) in ranges {
            XCTAssertEqual(tensor.scalars, bState[name]?.scalars, name)
        }
        // The ranges moved from the calibration's.
        let initial = try FakeQuantization(plan: straight.plan)
        XCTAssertTrue(ranges.contains { $0.value.scalars != initial.stateTensors[$0.key]!.scalars })
    }

    func testQuantizedModelsAndBadPlansAreRefused() throws {
        let graph = try randomized(QuantizationTests.residualNetwork(), seed: 11)
        let calibration = QuantizationTests.batches(2, batch: 4, shape: [3, 8, 8], seed: 12)
        let qat = QuantizationAwareTraining()
        let start = try qat.prepare(graph, calibration: calibration)
        XCTAssertThrowsError(try qat.prepare(start.postTraining, calibration: calibration)) { error in
            guard case .alreadyQuantized = error as? QuantizationError else { return XCTFail("\(error)") }
        }
        let fakeQuantization = try FakeQuantization(plan: start.plan)
        XCTAssertThrowsError(try QuantizationAwareTraining.convert(start.postTraining, fakeQuantization: fakeQuantization)) { error in
            guard case .alreadyQuantized = error as? QuantizationError else { return XCTFail("\(error)") }
        }
        XCTAssertThrowsError(try DNNLExecutor(graph: start.postTraining, batchSize: 1, mode: .inference,
                                              fakeQuantization: fakeQuantization))
        var wrong = start.plan
        wrong.activations.append(.init(node: "nowhere", unsigned: false, initialBound: 1))
        XCTAssertThrowsError(try DNNLExecutor(graph: start.graph, batchSize: 1, mode: .inference,
                                              fakeQuantization: try FakeQuantization(plan: wrong))) { error in
            XCTAssertTrue("\(error)".contains("nowhere"), "\(error)")
        }
        wrong = start.plan
        wrong.activations.append(.init(node: "fc", unsigned: false, rangeOf: "flatten"))
        XCTAssertThrowsError(try FakeQuantization(plan: wrong)) { error in
            XCTAssertTrue("\(error)".contains("flatten"), "\(error)")
        }
        XCTAssertThrowsError(try QuantizationAwareTraining(momentum: 0).prepare(graph, calibration: calibration))
    }
}
