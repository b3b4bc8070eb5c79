import PareCore
import PareTrain
import XCTest

final class GradientClippingTests: XCTestCase {
    func testClipsToMaxNormLikeTorch() {
        // a.grad = [0.5, -1.25, 2.0]; b.grad = [[3.0, -0.125], [0.75, 1.5]]
        // norm = torch.nn.utils.clip_grad_norm_([a, b], max_norm=1.0)
        let a = tensor([0.5, -1.25, 2.0]), b = tensor([3.0, -0.125, 0.75, 1.5], shape: [2, 2])
        let norm = clipGradientNorm(["a": a, "b": b], maxNorm: 1)
        XCTAssertEqual(norm, 4.20007467)
        XCTAssertEqual(a.scalars, [0.119045474, -0.29761368, 0.476181895])
        XCTAssertEqual(b.scalars, [0.714272857, -0.0297613684, 0.178568214, 0.357136428])
        // The result has norm maxNorm (less the 1e-6 torch adds to the denominator).
        let clipped = (a.scalars + b.scalars).reduce(0) { $0 + $1 * $1 }.squareRoot()
        XCTAssertEqual(clipped, 1, accuracy: 1e-6)
    }

    func testScalesOnlyAboveMaxNormLikeTorch() {
        // g.grad = [3.0, -4.0] (norm 5); clip_grad_norm_([g], max_norm) for max_norm 10, 5, 2.5:
        // torch scales at 5 too, by 1 / (5 + 1e-6) * 5 in f32.
        let cases: [(maxNorm: Float, clipped: [Float])] = [
            (10, [3, -4]), (5, [2.99999928, -3.99999905]), (2.5, [1.49999964, -1.99999952]),
        ]
        for (maxNorm, clipped) in cases {
            let g = tensor([3, -4])
            XCTAssertEqual(clipGradientNorm(["g": g], maxNorm: maxNorm), 5)
            XCTAssertEqual(g.scalars, clipped, "max norm \(maxNorm)")
        }
        XCTAssertEqual(clipGradientNorm([:], maxNorm: 1), 0)
    }

    func testNonFiniteNormIsReturned() {
        let g = tensor([1, .nan])
        XCTAssertTrue(clipGradientNorm(["g": g], maxNorm: 1).isNaN)
        XCTAssertTrue(clipGradientNorm(["g": tensor([1, .infinity])], maxNorm: 1).isInfinite)
    }
}

final class GradientAccumulatorTests: XCTestCase {
    func testSumsScaledMicroBatchesExactly() throws {
        // Dyadic values: g / 4 and the sums are exact in f32.
        let accumulator = GradientAccumulator(microBatches: 4)
        let micro: [[String: [Float]]] = [
            ["w": [1, -2], "b": [0.5]],
            ["w": [3, 0.25], "b": [-1.5]],
            ["w": [-0.5, 8]],  // b has no gradient in this micro-batch
            ["w": [0.125, 1], "b": [4]],
        ]
        for (index, gradients) in micro.enumerated() {
            XCTAssertFalse(accumulator.isComplete)
            try accumulator.add(gradients.mapValues { tensor($0) })
            XCTAssertEqual(accumulator.count, index + 1)
        }
        XCTAssertTrue(accumulator.isComplete)
        let taken = accumulator.take()
        XCTAssertEqual(taken["w"]?.scalars, [0.90625, 1.8125])  // (1 + 3 - 0.5 + 0.125) / 4, (-2 + 0.25 + 8 + 1) / 4
        XCTAssertEqual(taken["b"]?.scalars, [0.75])  // (0.5 - 1.5 + 4) / 4
        XCTAssertEqual(accumulator.count, 0)

        // After take, the next accumulation starts from zero, and only names added since count.
        try accumulator.add(["w": tensor([4, 4])])
        let next = accumulator.take()
        XCTAssertEqual(Array(next.keys), ["w"])
        XCTAssertEqual(next["w"]?.scalars, [1, 1])
    }

    func testCopiesTheCallersGradients() throws {
        let accumulator = GradientAccumulator(microBatches: 2)
        let gradient = tensor([2, 6])
        try accumulator.add(["w": gradient])
        gradient.floats[0] = 100  // the next backward pass overwrites the executor's gradients
        try accumulator.add(["w": gradient])
        XCTAssertEqual(accumulator.take()["w"]?.scalars, [51, 6])
    }

    func testRejectsAShapeChange() throws {
        let accumulator = GradientAccumulator(microBatches: 2)
        try accumulator.add(["w": tensor([1, 2])])
        XCTAssertThrowsError(try accumulator.add(["w": tensor([1, 2, 3])]))
        XCTAssertEqual(accumulator.count, 1)
    }

    /// K micro-batches of a mean loss give the gradient of the K-times batch: a linear
    /// classifier, `logits = x W`, softmax cross-entropy, 4 samples at once or 2 + 2.
    func testMatchesOneStepOnTheLargerBatch() throws {
        let features = 3, classes = 4
        var generator = SeededGenerator(seed: 5)
        let x = (0..<4 * features).map { _ in Float.random(in: -1...1, using: &generator) }
        let weights = (0..<features * classes).map { _ in Float.random(in: -1...1, using: &generator) }
        let labels = [2, 0, 3, 1]

        /// dW = xᵀ dLogits for the samples `rows`, with the mean loss over those samples.
        func weightGradient(_ rows: Range<Int>) throws -> Tensor {
            var logits = [Float](repeating: 0, count: rows.count * classes)
            for (r, n) in rows.enumerated() {
                for c in 0..<classes {
                    for f in 0..<features { logits[r * classes + c] += x[n * features + f] * weights[f * classes + c] }
                }
            }
            let (_, dLogits) = try softmaxCrossEntropy(logits: tensor(logits, shape: [rows.count, classes]),
                                                       labels: Array(labels[rows]), labelSmoothing: 0.1)
            var dW = [Float](repeating: 0, count: features * classes)
            for (r, n) in rows.enumerated() {
                for f in 0..<features {
                    for c in 0..<classes { dW[f * classes + c] += x[n * features + f] * dLogits.floats[r * classes + c] }
                }
            }
            return tensor(dW, shape: [features, classes])
        }

        let accumulator = GradientAccumulator(microBatches: 2)
        try accumulator.add(["W": weightGradient(0..<2)])
        try accumulator.add(["W": weightGradient(2..<4)])
        let accumulated = try XCTUnwrap(accumulator.take()["W"])
        let fullBatch = try weightGradient(0..<4)
        assertClose(accumulated.scalars, fullBatch.scalars, atol: 1e-7, rtol: 1e-6, "dW")
        XCTAssertTrue(fullBatch.scalars.contains { abs($0) > 0.01 }, "a vacuous check")

        // And so the same SGD update.
        let w1 = tensor(weights), w2 = tensor(weights)
        try SGD(learningRate: 0.5).step(parameters: ["W": w1], gradients: ["W": try accumulated.reshaped([12])])
        try SGD(learningRate: 0.5).step(parameters: ["W": w2], gradients: ["W": try fullBatch.reshaped([12])])
        assertClose(w1.scalars, w2.scalars, atol: 1e-7, rtol: 1e-6, "W after the step")
    }
}
