import PareCore
import PareModels
import XCTest

@testable import PareCompress

/// Runs `graph` forward in inference mode (unfused) on `x`.
func inferenceOutput(_ graph: Graph, _ x: Tensor) throws -> Tensor {
    let executor = try DNNLExecutor(graph: graph, batchSize: x.shape[0], mode: .inference,
                                    configuration: ExecutorConfiguration(threads: 2, fuseInference: false))
    return try executor.forward([x])[0].copy()
}

/// A graph of one convolution (or linear layer) on `input`, with seeded weights.
func singleLayer(_ op: Op, input: Shape, seed: UInt64) throws -> Graph {
    var b = GraphBuilder()
    let x = b.input(input)
    let y = b.node(op, [x], name: "layer")
    return try randomized(try b.buildWithoutParameters(outputs: [y]), seed: seed)
}

/// A seeded normal batch.
func normalInput(_ shape: Shape, seed: UInt64) -> Tensor {
    var generator = SeededGenerator(seed: seed)
    return Tensor.randomNormal(shape, generator: &generator)
}

/// A small residual model with a 5x5 convolution, two identity basic blocks (`layer1.0`,
/// `layer1.1`), a 1x1 head convolution and a linear classifier.
func smallRewriteModel(seed: UInt64 = 1) throws -> Graph {
    var b = GraphBuilder()
    var x = b.input([3, 16, 16])
    x = b.conv2d(x, "conv1", outChannels: 8, kernelSize: 3, padding: 1, bias: true)
    x = b.relu(b.batchNorm(x, "bn1"))
    x = b.conv2d(x, "wide", outChannels: 8, kernelSize: 5, padding: 2, bias: false)
    x = b.relu(b.batchNorm(x, "bn2"))
    x = b.basicBlock(x, "layer1.0", planes: 8)
    x = b.basicBlock(x, "layer1.1", planes: 8)
    x = b.conv2d(x, "head", outChannels: 16, kernelSize: 1, bias: true)
    x = b.linear(b.flatten(b.globalAvgPool(x)), "fc", outFeatures: 4)
    return try randomized(try b.buildWithoutParameters(outputs: [x], metadata: ["model": "small-rewrite"]), seed: seed)
}

/// The relative Frobenius error `‖a − b‖ / ‖b‖`.
func relativeDifference(_ a: Tensor, _ b: Tensor) -> Double {
    var d = 0.0, n = 0.0
    for (x, y) in zip(a.floats, b.floats) { d += Double(x - y) * Double(x - y); n += Double(y) * Double(y) }
    return (d / n).squareRoot()
}
