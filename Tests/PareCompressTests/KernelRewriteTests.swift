import PareCore
import XCTest

@testable import PareCompress

final class KernelRewriteTests: XCTestCase {
    func testCentralWindowKeepsTheOutputShape() throws {
        let a = Conv2dAttributes(outChannels: 4, kernelSize: [5, 5], stride: [2, 2], padding: Padding2d(4), dilation: [2, 2], bias: true)
        let graph = try singleLayer(.conv2d(a), input: [3, 11, 11], seed: 13)
        let result = try KernelRewrite.apply(graph, kernelSize: 3)
        XCTAssertEqual(result.graph.nodes.map(\.name), ["input", "layer"])
        guard case let .conv2d(b) = result.graph.nodes[1].op else { return XCTFail("not a conv") }
        XCTAssertEqual(b.kernelSize, [3, 3])
        XCTAssertEqual(b.padding, Padding2d(2))
        XCTAssertEqual(try result.graph.inferShapes()[1], try graph.inferShapes()[1])
        // Equal to the original with everything outside the central window zeroed.
        var windowed = graph
        let w = graph.parameters["layer.weight"]!.copy()
        for row in 0..<12 { for i in 0..<5 { for j in 0..<5 where !(1...3).contains(i) || !(1...3).contains(j) {
            w.floats[(row * 5 + i) * 5 + j] = 0
        } } }
        windowed.parameters["layer.weight"] = w
        let x = normalInput([2, 3, 11, 11], seed: 14)
        assertCloseRelative(try inferenceOutput(result.graph, x), try inferenceOutput(windowed, x), rtol: 1e-5, "3x3 vs windowed 5x5")
        XCTAssertEqual(result.records.first?.parametersAfter, 4 * 3 * 9 + 4)
    }

    func testNegativePaddingIsRefusedNamingTheLayer() throws {
        let graph = try singleLayer(.conv2d(Conv2dAttributes(outChannels: 4, kernelSize: [5, 5])), input: [3, 9, 9], seed: 1)
        XCTAssertThrowsError(try KernelRewrite.apply(graph, kernelSize: 3)) { error in
            XCTAssertTrue("\(error)".contains("'layer'") && "\(error)".contains("negative"), "\(error)")
        }
        // A 3x3 layer is skipped (not larger), which leaves nothing to rewrite.
        let small = try singleLayer(.conv2d(Conv2dAttributes(outChannels: 4, kernelSize: [3, 3])), input: [3, 9, 9], seed: 1)
        XCTAssertThrowsError(try KernelRewrite.apply(small, kernelSize: 3)) { XCTAssertTrue("\($0)".contains("not larger"), "\($0)") }
    }
}
