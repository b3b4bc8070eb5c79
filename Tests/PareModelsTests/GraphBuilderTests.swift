import PareCore
import XCTest

import PareModels

final class GraphBuilderTests: XCTestCase {
    func testShapesAreInferredAsNodesAreAdded() throws {
        var b = GraphBuilder()
        var x = b.input([3, 32, 32])
        XCTAssertEqual(x.shape, [3, 32, 32])
        x = b.conv2d(x, "conv1", outChannels: 64, kernelSize: 3, stride: 2, padding: 1, bias: false)
        XCTAssertEqual(x.shape, [64, 16, 16])
        XCTAssertEqual(x.channels, 64)
        x = b.conv2d(x, "conv2", outChannels: 8, kernelSize: 3, padding: Padding2d(top: 0, left: 1, bottom: 2, right: 1))
        XCTAssertEqual(x.shape, [8, 16, 16])
        x = b.conv2d(x, "conv3", outChannels: 8, kernelSize: 3, padding: 2, dilation: 2, groups: 8)
        XCTAssertEqual(x.shape, [8, 16, 16])
        x = b.maxPool(x, kernelSize: 3, stride: 2, padding: 1)
        XCTAssertEqual(x.shape, [8, 8, 8])
        x = b.avgPool(x, kernelSize: 2)
        XCTAssertEqual(x.shape, [8, 4, 4])
        x = b.relu(b.add(x, x))
        let joined = b.channelShuffle(b.concat([x, b.hardSwish(x), b.sigmoid(x)]), groups: 3)
        XCTAssertEqual(joined.shape, [24, 4, 4])
        let pooled = b.globalAvgPool(b.relu6(joined))
        XCTAssertEqual(pooled.shape, [24, 1, 1])
        let flat = b.dropout(b.flatten(b.batchNorm(pooled, "bn", eps: 1e-3, momentum: 0.01)), probability: 0.2)
        XCTAssertEqual(flat.shape, [24])
        let y = b.softmax(b.linear(flat, "fc", outFeatures: 5, bias: false))
        XCTAssertEqual(y.shape, [5])

        let graph = try b.build(outputs: [y], seed: 1)
        try graph.validate()
        XCTAssertEqual(graph.outputs, [y.node])
        XCTAssertEqual(try graph.inferShapes().last, [5])
        XCTAssertEqual(Set(graph.nodes.map(\.op.kind)).count, 17, "every op kind is used once or more")
        XCTAssertEqual(graph.nodes[y.node - 1].op, .linear(LinearAttributes(outFeatures: 5, bias: false)))
        XCTAssertNil(graph.parameters["fc.bias"])
        XCTAssertEqual(graph.parameters["conv1.weight"]?.shape, [64, 3, 3, 3])
        XCTAssertEqual(graph.parameters["conv3.weight"]?.shape, [8, 1, 3, 3])
        XCTAssertEqual(graph.parameters["conv2.bias"]?.shape, [8], "bias defaults to true, as in PyTorch")
    }

    func testInvalidLayerThrowsNamingTheNode() {
        var b = GraphBuilder()
        var x = b.input([64, 8, 8])
        x = b.conv2d(x, "layer2.0.conv1", outChannels: 64, kernelSize: 3, groups: 3)
        x = b.linear(x, "fc", outFeatures: 10)  // also invalid (no flatten), but later
        XCTAssertThrowsError(try b.build(outputs: [x])) { error in
            guard case let GraphError.invalidNode(index, node, op, reason) = error else {
                return XCTFail("unexpected error \(error)")
            }
            XCTAssertEqual(index, 1)
            XCTAssertEqual(node, "layer2.0.conv1")
            XCTAssertEqual(op, "conv2d")
            XCTAssertTrue(reason.contains("groups 3"), reason)
        }
    }

    func testMismatchedAddNamesItsAutomaticName() {
        var b = GraphBuilder()
        let x = b.input([16, 8, 8])
        let y = b.conv2d(x, "conv", outChannels: 16, kernelSize: 3, stride: 2, padding: 1)
        let sum = b.add(x, y)
        XCTAssertEqual(b.nodes[sum.node].name, "add_2")
        XCTAssertThrowsError(try b.build(outputs: [sum])) { error in
            XCTAssertEqual(error as? GraphError, .invalidNode(
                index: 2, node: "add_2", op: "add", reason: "inputs have different shapes [16x8x8] and [16x4x4]"))
        }
    }

    func testLinearWithoutFlattenIsRejected() {
        var b = GraphBuilder()
        let x = b.linear(b.input([4, 2, 2]), "head.fc", outFeatures: 3)
        XCTAssertThrowsError(try b.build(outputs: [x])) { error in
            XCTAssertTrue("\(error)".contains("'head.fc' (linear)"), "\(error)")
        }
    }

    func testNamesAreUniqueAndExplicitDuplicatesAreRejected() throws {
        var b = GraphBuilder()
        var x = b.input([4, 4, 4])
        x = b.relu(x)
        x = b.node(.relu, [x], name: "relu_3")  // takes the name node 3 would get automatically
        x = b.relu(x)
        x = b.add(x, b.relu(x))
        let graph = try b.build(outputs: [x])
        let names = graph.nodes.map(\.name)
        XCTAssertEqual(names, ["input", "relu_1", "relu_3", "relu_3_1", "relu_4", "add_5"])
        XCTAssertEqual(Set(names).count, names.count)

        var duplicate = GraphBuilder()
        let input = duplicate.input([4, 4, 4])
        let first = duplicate.conv2d(input, "conv", outChannels: 4, kernelSize: 1)
        let second = duplicate.conv2d(first, "conv", outChannels: 4, kernelSize: 1)
        XCTAssertThrowsError(try duplicate.build(outputs: [second])) { error in
            XCTAssertEqual(error as? GraphError,
                           .invalidNode(index: 2, node: "conv", op: "conv2d", reason: "duplicate node name"))
        }
    }

    func testStructureWithoutParametersForLoadingWeights() throws {
        var b = GraphBuilder()
        let x = b.linear(b.flatten(b.input([2, 2, 2])), "fc", outFeatures: 3)
        var graph = try b.buildWithoutParameters(outputs: [x])
        XCTAssertTrue(graph.parameters.isEmpty)
        XCTAssertEqual(try graph.trainableParameterCount(), 8 * 3 + 3)
        XCTAssertThrowsError(try graph.validate()) { error in
            XCTAssertEqual(error as? GraphError, .missingParameter(node: "fc", parameter: "fc.weight"))
        }
        graph.parameters["fc.bias"] = try Tensor(shape: [3], values: [1, 2, 3])  // as if loaded
        try graph.initializeParameters(seed: 0)
        try graph.validate()
        XCTAssertEqual(graph.parameters["fc.bias"]?.scalars, [1, 2, 3])
    }

    func testSeedMakesInitializationReproducible() throws {
        func model(seed: UInt64) throws -> Graph {
            var b = GraphBuilder()
            let x = b.conv2d(b.input([3, 8, 8]), "conv", outChannels: 4, kernelSize: 3)
            return try b.build(outputs: [x], seed: seed)
        }
        let a = try model(seed: 7), again = try model(seed: 7), other = try model(seed: 8)
        XCTAssertEqual(a.parameters["conv.weight"]?.scalars, again.parameters["conv.weight"]?.scalars)
        XCTAssertNotEqual(a.parameters["conv.weight"]?.scalars, other.parameters["conv.weight"]?.scalars)
    }
}
