@testable import PareCompress
import PareCore
import PareModels
import XCTest

/// Zoo models quantised and run on the int8 executor, against their fake-quantised simulation.
final class Int8ZooTests: XCTestCase {
    func check(_ name: String, input: Shape) throws {
        var graph = try Zoo.entry(name).build(ZooOptions(classes: 10, input: input, withParameters: true))
        graph = try randomized(graph, seed: 4)
        let calibration = QuantizationTests.batches(2, batch: 2, shape: input.dimensions, seed: 5)
        let (quantized, report) = try PostTrainingQuantizer().quantize(graph, calibration: calibration)
        XCTAssertTrue(report.floatLayers.isEmpty, "\(name): \(report.floatLayers.map(\.name))")
        let x = QuantizationTests.batches(1, batch: 2, shape: input.dimensions, seed: 6)[0]
        let got = try DNNLExecutor(graph: quantized, batchSize: 2, mode: .inference).forward([x])[0].scalars
        let simulated = try ReferenceGraphRunner<Float>(graph: quantized, batchSize: 2, mode: .inference).forward([x.scalars])[0]
        XCTAssertEqual(got.count, simulated.count)
        let range = simulated.map(abs).max()!
        let worst = zip(got, simulated).map { abs($0 - $1) }.max()!
        XCTAssertLessThan(worst, 0.01 * range, "\(name): worst logit differs by \(worst) (range \(range))")
    }

    func testMobileNetV2() throws { try check("mobilenet_v2", input: [3, 32, 32]) }
    func testResNet18CIFAR() throws { try check("resnet18-cifar", input: [3, 8, 8]) }
}
