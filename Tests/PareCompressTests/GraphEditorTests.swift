import PareCore
import PareModels
import XCTest

@testable import PareCompress

/// The graph editor: keep, drop, replace, insert with old-to-new index mapping, parameters
/// carried by name; and tensor selection.
final class GraphEditorTests: XCTestCase {
    func testSelectingCopiesTheChosenEntriesAlongAnAxis() throws {
        let t = try Tensor(shape: [2, 3, 2], values: (0..<12).map(Float.init))
        XCTAssertEqual(try t.selecting([2, 0], axis: 1).scalars, [4, 5, 0, 1, 10, 11, 6, 7])
        XCTAssertEqual(try t.selecting([2, 0], axis: 1).shape, [2, 2, 2])
        XCTAssertEqual(try t.selecting([1], axis: 0).scalars, [6, 7, 8, 9, 10, 11])
        XCTAssertEqual(try t.selecting([1, 1, 0], axis: 2).scalars.prefix(6), [1, 1, 0, 3, 3, 2])
        XCTAssertEqual(try t.selecting([0: [1], 2: [0]]).scalars, [6, 8, 10])
        let copy = try t.selecting([0: [0, 1]])
        copy.floats[0] = 99
        XCTAssertEqual(t.floats[0], 0, "selecting everything still copies")
        let counts = Tensor(zeros: [3], dtype: .i64)
        XCTAssertEqual(try counts.selecting([0, 2], axis: 0).shape, [2])
        XCTAssertThrowsError(try t.selecting([3], axis: 1)) { XCTAssertTrue("\($0)".contains("index 3 outside 0..<3")) }
        XCTAssertThrowsError(try t.selecting([0], axis: 3)) { XCTAssertTrue("\($0)".contains("axis 3")) }
    }

    private func smallGraph() throws -> Graph {
        var b = GraphBuilder()
        var x = b.input([3, 8, 8])
        x = b.conv2d(x, "conv", outChannels: 4, kernelSize: 3, padding: 1, bias: true)
        x = b.dropout(b.relu(b.batchNorm(x, "bn")), probability: 0.2)
        x = b.linear(b.flatten(b.globalAvgPool(x)), "fc", outFeatures: 5)
        return try b.build(outputs: [x], seed: 1)
    }

    func testKeepingEveryNodeGivesAnEqualGraph() throws {
        let graph = try smallGraph()
        var editor = try GraphEditor(graph)
        for index in graph.nodes.indices { try editor.keep(index) }
        let result = try editor.finish()
        XCTAssertEqual(result.nodes, graph.nodes)
        XCTAssertEqual(result.outputs, graph.outputs)
        XCTAssertEqual(Set(result.parameters.keys), Set(graph.parameters.keys))
        XCTAssertEqual(result.parameters["conv.weight"]?.scalars, graph.parameters["conv.weight"]?.scalars)
    }

    func testDropReplaceAndInsertRemapIndicesAndCarryParametersByName() throws {
        let graph = try smallGraph()
        let dropout = graph.nodes.firstIndex { $0.op.kind == "dropout" }!
        let conv = graph.nodes.firstIndex { $0.name == "conv" }!
        let relu = graph.nodes.firstIndex { $0.op.kind == "relu" }!
        var editor = try GraphEditor(graph)
        for (index, node) in graph.nodes.enumerated() {
            if index == dropout {
                try editor.drop(index, forwardingTo: node.inputs[0])
            } else if index == conv {
                // conv -> depthwise 3x3 + pointwise 1x1, with new parameters under new names.
                try editor.replace(index) { e, inputs in
                    let dw = e.add("conv.depthwise", op: .conv2d(Conv2dAttributes(outChannels: 3, kernelSize: [3, 3], padding: Padding2d(1), groups: 3)),
                                   inputs: inputs, parameters: ["weight": Tensor(repeating: 0.1, shape: [3, 1, 3, 3])])
                    return e.add("conv.pointwise", op: .conv2d(Conv2dAttributes(outChannels: 4, kernelSize: [1, 1], bias: true)),
                                 inputs: [dw], parameters: ["weight": Tensor(repeating: 0.2, shape: [4, 3, 1, 1]),
                                                            "bias": Tensor(zeros: [4])])
                }
            } else {
                try editor.keep(index)
                if index == relu {
                    try editor.insert(after: index) { e, value in e.add("observer", op: .relu6, inputs: [value]) }
                }
            }
        }
        let result = try editor.finish(metadata: ["edited": "yes"])
        XCTAssertEqual(result.nodes.map(\.name).filter { !$0.hasPrefix("relu") && !$0.hasPrefix("flatten") && !$0.hasPrefix("global") },
                       ["input", "conv.depthwise", "conv.pointwise", "bn", "observer", "fc"])
        XCTAssertEqual(result.nodes.count, graph.nodes.count + 1 - 1 + 1)  // +1 subgraph node, -1 dropout, +1 inserted
        let bn = result.nodes.firstIndex { $0.name == "bn" }!
        XCTAssertEqual(result.nodes[bn].inputs, [result.nodes.firstIndex { $0.name == "conv.pointwise" }!])
        let gap = result.nodes.firstIndex { $0.op.kind == "globalAvgPool" }!
        XCTAssertEqual(result.nodes[gap].inputs, [result.nodes.firstIndex { $0.name == "observer" }!],
                       "the dropped dropout's consumer reads the inserted node")
        XCTAssertNil(result.parameters["conv.weight"])
        XCTAssertEqual(result.parameters["conv.pointwise.bias"]?.shape, [4])
        XCTAssertEqual(result.parameters["fc.weight"]?.scalars, graph.parameters["fc.weight"]?.scalars)
        XCTAssertEqual(result.metadata["edited"], "yes")
        XCTAssertEqual(editor.mapping[conv], result.nodes.firstIndex { $0.name == "conv.pointwise" })
        XCTAssertEqual(graph.nodes.count, 8, "the old graph is untouched")
    }

    func testUsingANodeBeforeItIsPlacedIsAnErrorNamingIt() throws {
        let graph = try smallGraph()
        var editor = try GraphEditor(graph)
        XCTAssertThrowsError(try editor.keep(1)) { XCTAssertTrue("\($0)".contains("'input'"), "\($0)") }
        try editor.keep(0)
        XCTAssertThrowsError(try editor.finish()) { XCTAssertTrue("\($0)".contains("used before it is placed"), "\($0)") }
    }
}
