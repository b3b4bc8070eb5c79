import PareCore
import PareModels
import XCTest

@testable import PareCompress

/// svd and tucker: exact at full rank, smaller and approximate below it.
final class LowRankRewriteTests: XCTestCase {
    private func check(_ op: Op, input: Shape, rewrite: (Graph) throws -> RewriteResult, names: [String],
                       line: UInt = #line) throws -> RewriteResult {
        let graph = try singleLayer(op, input: input, seed: 5)
        let result = try rewrite(graph)
        XCTAssertEqual(result.graph.nodes.map(\.name), ["input"] + names, line: line)
        let x = normalInput(Shape([2] + input.dimensions), seed: 6)
        assertCloseRelative(try inferenceOutput(result.graph, x), try inferenceOutput(graph, x), rtol: 1e-5,
                            "\(names) at full rank", line: line)
        XCTAssertLessThan(try XCTUnwrap(result.records.first?.relativeError), 1e-5, line: line)
        return result
    }

    func testSVDAtFullRankIsExact() throws {
        let full = RankChoice.fixed(1000)
        _ = try check(.linear(LinearAttributes(outFeatures: 7)), input: [12],
                      rewrite: { try LowRankRewrite.apply($0, rank: full) }, names: ["layer.reduce", "layer.expand"])
        let pointwise = Conv2dAttributes(outChannels: 6, kernelSize: [1, 1], stride: [2, 2], padding: Padding2d(1), bias: true)
        _ = try check(.conv2d(pointwise), input: [5, 7, 7],
                      rewrite: { try LowRankRewrite.apply($0, rank: full) }, names: ["layer.reduce", "layer.expand"])
        let spatial = Conv2dAttributes(outChannels: 6, kernelSize: [3, 3], stride: [2, 1],
                                       padding: Padding2d(top: 1, left: 2, bottom: 0, right: 1), dilation: [1, 2], bias: true)
        let result = try check(.conv2d(spatial), input: [4, 9, 10],
                               rewrite: { try LowRankRewrite.apply($0, rank: full) }, names: ["layer.vertical", "layer.horizontal"])
        guard case let .conv2d(v) = result.graph.nodes[1].op, case let .conv2d(h) = result.graph.nodes[2].op else {
            return XCTFail("not convolutions")
        }
        XCTAssertEqual(v.kernelSize, [3, 1]); XCTAssertEqual(v.stride, [2, 1]); XCTAssertEqual(v.outChannels, 12)
        XCTAssertEqual(h.kernelSize, [1, 3]); XCTAssertEqual(h.stride, [1, 1]); XCTAssertEqual(h.dilation, [1, 2])
    }

    func testSVDBelowFullRankIsTheTruncation() throws {
        let graph = try singleLayer(.linear(LinearAttributes(outFeatures: 8)), input: [10], seed: 8)
        let result = try LowRankRewrite.apply(graph, rank: .fixed(3))
        XCTAssertEqual(result.graph.parameters["layer.reduce.weight"]?.shape, [3, 10])
        XCTAssertEqual(result.graph.parameters["layer.expand.weight"]?.shape, [8, 3])
        let record = try XCTUnwrap(result.records.first)
        XCTAssertEqual(record.parametersBefore, 88)
        XCTAssertEqual(record.parametersAfter, 30 + 24 + 8)
        // The product of the two weights is the best rank-3 approximation.
        let w = graph.parameters["layer.weight"]!.matrix(rows: 8)
        let best = try SingularValueDecomposition(w).reconstruction(rank: 3)
        let product = result.graph.parameters["layer.expand.weight"]!.matrix(rows: 8)
            .multiplied(by: result.graph.parameters["layer.reduce.weight"]!.matrix(rows: 3))
        XCTAssertLessThan(product.squaredDistance(to: best), 1e-9)
        // By energy: the smallest rank keeping 90 % of Σσ².
        let energy = try LowRankRewrite.apply(graph, rank: .energy(0.9))
        let expected = try SingularValueDecomposition(w).rank(keepingEnergy: 0.9)
        XCTAssertEqual(energy.graph.parameters["layer.reduce.weight"]?.shape, [expected, 10])
        XCTAssertLessThan(expected, 8)
    }

    func testTuckerAtFullRanksIsExact() throws {
        let a = Conv2dAttributes(outChannels: 6, kernelSize: [3, 3], stride: [2, 2], padding: Padding2d(1), bias: true)
        let result = try check(.conv2d(a), input: [5, 8, 8], rewrite: { try TuckerRewrite.apply($0, rank: .fixed(1000)) },
                               names: ["layer.reduce", "layer.core", "layer.expand"])
        XCTAssertEqual(result.graph.parameters["layer.core.weight"]?.shape, [6, 5, 3, 3])
        guard case let .conv2d(core) = result.graph.nodes[2].op else { return XCTFail("core is not a conv") }
        XCTAssertEqual(core.stride, [2, 2]); XCTAssertEqual(core.padding, Padding2d(1))
    }

    func testTuckerBelowFullRanks() throws {
        let graph = try singleLayer(.conv2d(Conv2dAttributes(outChannels: 16, kernelSize: [3, 3], padding: Padding2d(1))),
                                    input: [12, 6, 6], seed: 10)
        let result = try TuckerRewrite.apply(graph, rank: .fixed(4))
        XCTAssertEqual(result.graph.parameters["layer.reduce.weight"]?.shape, [4, 12, 1, 1])
        XCTAssertEqual(result.graph.parameters["layer.core.weight"]?.shape, [4, 4, 3, 3])
        XCTAssertEqual(result.graph.parameters["layer.expand.weight"]?.shape, [16, 4, 1, 1])
        let record = try XCTUnwrap(result.records.first)
        XCTAssertEqual(record.parametersAfter, 48 + 144 + 64)
        let error = try XCTUnwrap(record.relativeError)
        XCTAssertGreaterThan(error, 0.1); XCTAssertLessThan(error, 1)
        // More rank, less error.
        let larger = try TuckerRewrite.apply(graph, rank: .fixed(8))
        XCTAssertLessThan(try XCTUnwrap(larger.records.first?.relativeError), error)
    }

    func testSkipsGroupedConvolutions() throws {
        let graph = try Zoo.build("tiny-residual", options: ZooOptions(input: [3, 16, 16]))
        let result = try LowRankRewrite.apply(graph, rank: .fixed(2), measurement: RewriteMeasurement(measureError: false))
        XCTAssertEqual(Set(result.skipped.map(\.node)), ["mix.conv", "mix.depthwise"])
        XCTAssertTrue(result.records.contains { $0.node == "fc" })
    }
}
