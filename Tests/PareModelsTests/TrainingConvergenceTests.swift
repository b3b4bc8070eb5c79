import PareCore
import PareData
import PareModels
import PareTrain
import XCTest

/// A model with a residual add, a depthwise conv and a channel shuffle learns through the
/// fast executor: SGD steps on seeded synthetic images lower the loss.
final class TrainingConvergenceTests: XCTestCase {
    func testTinyResidualNetLossDecreases() throws {
        let graph = try tinyResidualNet(input: [3, 16, 16], classes: 4, seed: 0)
        let kinds = Set(graph.nodes.map(\.op.kind))
        XCTAssertTrue(kinds.isSuperset(of: ["add", "channelShuffle", "conv2d"]))
        XCTAssertTrue(graph.nodes.contains {
            if case let .conv2d(a) = $0.op { return a.groups > 1 && a.groups == a.outChannels } else { return false }
        }, "no depthwise convolution")

        let data = SyntheticImages(imageShape: [3, 16, 16], classes: 4, noise: 0.5, seed: 1)
        let executor = try DNNLExecutor(graph: graph, batchSize: 16, mode: .training,
                                        configuration: ExecutorConfiguration(threads: 2))
        let optimizer = SGD(learningRate: 0.05, momentum: 0.9)
        var generator = SeededGenerator(seed: 2)
        var losses: [Float] = []
        for step in 0..<40 {
            let (images, labels) = data.batch(16, generator: &generator)
            losses.append(try trainingStep(executor: executor, optimizer: optimizer, images: images, labels: labels, step: step).loss)
        }
        let first = losses.prefix(5).reduce(0, +) / 5
        let last = losses.suffix(5).reduce(0, +) / 5
        XCTAssertLessThan(last, first * 0.7, "loss did not fall: \(losses)")
    }

    func testNonFiniteLossStopsBeforeTheUpdate() throws {
        let graph = try tinyResidualNet(input: [3, 8, 8], classes: 3, seed: 0)
        let executor = try DNNLExecutor(graph: graph, batchSize: 2, mode: .training)
        let before = graph.parameters["fc.weight"]!.copy()
        graph.parameters["fc.bias"]!.floats[0] = .nan  // a NaN logit; ReLU would swallow a NaN input
        let images = Tensor(repeating: 1, shape: [2, 3, 8, 8])
        XCTAssertThrowsError(try trainingStep(executor: executor, optimizer: SGD(learningRate: 0.1),
                                              images: images, labels: [0, 1], step: 7)) { error in
            guard case TrainingError.nonFiniteLoss(step: 7, _) = error else { return XCTFail("\(error)") }
        }
        XCTAssertEqual(graph.parameters["fc.weight"]!.scalars, before.scalars)
    }
}
