import PareCore
import XCTest

@testable import PareCompress

final class GroupedRewriteTests: XCTestCase {
    /// The original weight with everything outside group j's block (output channels
    /// o = i·g + j, input channels of group j) zeroed.
    private func maskedToBlocks(_ weight: Tensor, groups g: Int) -> Tensor {
        let s = weight.shape.dimensions
        let (cout, cin, k2) = (s[0], s[1], s[2] * s[3])
        let result = weight.copy()
        for o in 0..<cout { for c in 0..<cin where c / (cin / g) != o % g {
            for t in 0..<k2 { result.floats[(o * cin + c) * k2 + t] = 0 }
        } }
        return result
    }

    func testBlockDiagonalWeightIsUnchangedAndOtherwiseTheBlocksAreKept() throws {
        let a = Conv2dAttributes(outChannels: 8, kernelSize: [3, 3], padding: Padding2d(1), bias: true)
        let graph = try singleLayer(.conv2d(a), input: [6, 5, 5], seed: 11)
        let x = normalInput([2, 6, 5, 5], seed: 12)
        for g in [2] {
            var blockDiagonal = graph
            blockDiagonal.parameters["layer.weight"] = maskedToBlocks(graph.parameters["layer.weight"]!, groups: g)
            let exact = try GroupedRewrite.apply(blockDiagonal, groups: g)
            XCTAssertEqual(exact.graph.nodes.map(\.name), ["input", "layer.grouped", "layer.shuffle"])
            XCTAssertEqual(exact.graph.parameters["layer.grouped.weight"]?.shape, [8, 3, 3, 3])
            assertCloseRelative(try inferenceOutput(exact.graph, x), try inferenceOutput(blockDiagonal, x), rtol: 1e-5,
                                "block-diagonal weight, \(g) groups")
            XCTAssertLessThan(try XCTUnwrap(exact.records.first?.relativeError), 1e-5)
            // A dense weight: the same as dropping its off-diagonal blocks.
            let general = try GroupedRewrite.apply(graph, groups: g)
            assertCloseRelative(try inferenceOutput(general.graph, x), try inferenceOutput(blockDiagonal, x), rtol: 1e-5,
                                "dense weight, \(g) groups")
            let expected = relativeDifference(try inferenceOutput(blockDiagonal, normalInput([1, 6, 5, 5], seed: 0)),
                                              try inferenceOutput(graph, normalInput([1, 6, 5, 5], seed: 0)))
            XCTAssertEqual(try XCTUnwrap(general.records.first?.relativeError), expected, accuracy: 1e-4)
            XCTAssertEqual(general.records.first?.parametersAfter, 8 * 3 * 9 + 8)
        }
        // Three groups: channels 8 and 6 are not both divisible: skipped, so nothing matched.
        XCTAssertThrowsError(try GroupedRewrite.apply(graph, groups: 3)) { XCTAssertTrue("\($0)".contains("divisible"), "\($0)") }
    }

    func testSkipsDepthwiseConvolutions() throws {
        let depthwise = try singleLayer(.conv2d(Conv2dAttributes(outChannels: 4, kernelSize: [3, 3], groups: 4)), input: [4, 5, 5], seed: 1)
        XCTAssertThrowsError(try GroupedRewrite.apply(depthwise, groups: 2)) { XCTAssertTrue("\($0)".contains("depthwise"), "\($0)") }
    }
}
