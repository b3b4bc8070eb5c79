import PareCore
import PareModels
import XCTest

@testable import PareCompress

final class ShuffleSinkingTests: XCTestCase {
    /// conv → shuffle → bn → relu → conv, and a second shuffle feeding a residual add (which
    /// it cannot move past) and a shuffle that is a graph output.
    private func model() throws -> Graph {
        var b = GraphBuilder()
        let x = b.input([4, 6, 6])
        var y = b.conv2d(x, "a", Conv2dAttributes(outChannels: 6, kernelSize: [3, 3], padding: Padding2d(1), groups: 2, bias: true))
        y = b.node(.channelShuffle(groups: 3), [y], name: "a.shuffle")
        y = b.relu(b.batchNorm(y, "bn"))
        let z = b.conv2d(y, "b", Conv2dAttributes(outChannels: 6, kernelSize: [1, 1], groups: 2))
        let s = b.node(.channelShuffle(groups: 2), [z], name: "b.shuffle")
        let sum = b.add(s, y)
        let out = b.node(.channelShuffle(groups: 2), [sum], name: "out.shuffle")
        return try randomized(try b.buildWithoutParameters(outputs: [out]), seed: 5)
    }

    func testMovesTheShuffleAfterBatchNormAndReLUWithTheSameOutputs() throws {
        let graph = try model()
        let (sunk, moved) = try ShuffleSinking.apply(graph)
        XCTAssertEqual(moved, 1)
        XCTAssertEqual(sunk.nodes.map(\.op.kind), ["input", "conv2d", "batchNorm", "relu", "channelShuffle", "conv2d",
                                                   "channelShuffle", "add", "channelShuffle"])
        // bn'[src(o)] = bn[o]: shuffle (3 groups of 2) output o = i·3 + j reads input j·2 + i.
        let before = graph.parameters["bn.weight"]!.floats, after = sunk.parameters["bn.weight"]!.floats
        for i in 0..<2 { for j in 0..<3 { XCTAssertEqual(after[j * 2 + i], before[i * 3 + j], "channel \(i * 3 + j)") } }
        XCTAssertEqual(sunk.nodes[2].name, "bn")
        XCTAssertEqual(sunk.nodes[4].name, "a.shuffle")
        XCTAssertEqual(sunk.parameters["bn.num_batches_tracked"]?.shape, [])

        let x = normalInput([3, 4, 6, 6], seed: 6)
        assertCloseRelative(try inferenceOutput(sunk, x), try inferenceOutput(graph, x), rtol: 1e-6, "inference")
        // Fused inference folds bn and relu into `a` now; the output stays.
        let fused = try DNNLExecutor(graph: sunk, batchSize: 3, mode: .inference, configuration: ExecutorConfiguration(threads: 1))
        assertCloseRelative(try fused.forward([x])[0].copy(), try inferenceOutput(graph, x), rtol: 1e-5, "fused inference")
        XCTAssertTrue(fused.planDescription.contains("a conv forward + bn + relu"), fused.planDescription)
        // Training mode (batch statistics, per channel) agrees too.
        func trainingOutput(_ g: Graph) throws -> Tensor {
            try DNNLExecutor(graph: g, batchSize: 3, mode: .training, configuration: ExecutorConfiguration(threads: 1)).forward([x])[0].copy()
        }
        assertCloseRelative(try trainingOutput(sunk), try trainingOutput(graph), rtol: 1e-5, "training")
    }

    func testAShuffleWithTwoConsumersStays() throws {
        var b = GraphBuilder()
        let x = b.input([4, 3, 3])
        let s = b.node(.channelShuffle(groups: 2), [x], name: "s")
        let y = b.add(b.relu(s), s)
        let graph = try randomized(try b.buildWithoutParameters(outputs: [y]), seed: 1)
        let (sunk, moved) = try ShuffleSinking.apply(graph)
        XCTAssertEqual(moved, 0)
        XCTAssertEqual(sunk.nodes, graph.nodes)
    }

    func testGroupedRewriteLeavesEveryBatchNormRightAfterAConvolution() throws {
        var pipeline = RewritePipeline()
        pipeline.groups = 2
        pipeline.selection = RewriteSelection(skip: ["conv1"])
        let graph = try smallRewriteModel()
        let result = try pipeline.apply(to: graph)
        let nodes = result.graph.nodes
        XCTAssertEqual(nodes.filter { $0.op.kind == "channelShuffle" }.count, result.records.count)
        for node in nodes where node.op.kind == "batchNorm" {
            XCTAssertEqual(nodes[node.inputs[0]].op.kind, "conv2d", "\(node.name) reads \(nodes[node.inputs[0]].name)")
        }
        // The same function as the rewrite without the sinking step.
        let unsunk = try GroupedRewrite.apply(graph, groups: 2, selection: pipeline.selection, sinkShuffles: false).graph
        XCTAssertTrue(unsunk.nodes.contains { $0.op.kind == "batchNorm" && unsunk.nodes[$0.inputs[0]].op.kind == "channelShuffle" })
        let x = normalInput([2, 3, 16, 16], seed: 3)
        assertCloseRelative(try inferenceOutput(result.graph, x), try inferenceOutput(unsunk, x), rtol: 1e-5, "sunk vs not")
    }
}
