import PareCore
import XCTest

/// Whole graphs through ``ReferenceGraphRunner`` in Double, training mode: the gradient of
/// `L = sum(output * r)` (fixed random `r`) for every trainable parameter and every input,
/// against central differences. This checks the runner's wiring (fan-out accumulation,
/// multiple outputs, parameter routing) on top of the per-op checks.
///
/// Tolerances: eps 1e-6, atol 1e-6, rtol 1e-6 (see ``ReferenceGradientTests``).
final class ReferenceGraphTests: XCTestCase {
    let atol = 1e-6, rtol = 1e-6

    private func check(_ label: String, _ graph: Graph, batchSize: Int, seed: UInt64) throws {
        let graph = try TestGraphs.withRandomParameters(graph, seed: seed)
        try graph.validate()
        let checked = try checkGraphGradients(label, graph: graph,
                                              parameters: ReferenceGraphRunner<Double>.parameterArrays(of: graph),
                                              batchSize: batchSize, seed: seed, atol: atol, rtol: rtol)
        let expected = try graph.trainableParameterCount()
            + graph.inputIndices.reduce(0) { $0 + batchSize * (try graph.inferShapes())[$1].elementCount }
        XCTAssertEqual(checked, expected, "\(label): every parameter and input element is checked")
    }

    func testResNetBasicBlockGradients() throws {
        try check("ResNet basic block", TestGraphs.resNetBasicBlock(), batchSize: 2, seed: 101)
    }

    func testMobileNetV2InvertedResidualGradients() throws {
        try check("MobileNetV2 inverted residual", TestGraphs.mobileNetV2InvertedResidual(), batchSize: 2, seed: 102)
    }

    func testSqueezeExcitationBlockGradients() throws {
        try check("squeeze-and-excitation block", TestGraphs.squeezeExcitationBlock(), batchSize: 2, seed: 104)
    }

    func testEveryOpGraphGradients() throws {
        try check("every op", TestGraphs.everyOp(), batchSize: 3, seed: 103)
    }
}
