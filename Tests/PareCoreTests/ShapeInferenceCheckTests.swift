import PareCore
import XCTest

/// Attributes and dimensions as a crafted model file can give them: every one is checked,
/// with overflow-checked arithmetic, and is a ``GraphError`` naming the node and the field,
/// never a trap.
final class ShapeInferenceCheckTests: XCTestCase {
    /// input [3, 8, 8] -> `op` (named "layer"), for ops on an image.
    private func graph(_ op: Op, input: Shape = [3, 8, 8]) -> Graph {
        Graph(nodes: [Node(name: "input", op: .input(shape: input), inputs: []), Node(name: "layer", op: op, inputs: [0])],
              outputs: [1])
    }

    /// Shape inference fails at node `index` named `node`, with a reason containing each of `parts`.
    private func assertInvalid(_ graph: Graph, index: Int = 1, node: String = "layer", _ parts: String...,
                               file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try graph.inferShapes(), file: file, line: line) { error in
            guard case let .invalidNode(failedIndex, failedNode, _, reason)? = error as? GraphError else {
                return XCTFail("not an invalid-node GraphError: \(error)", file: file, line: line)
            }
            XCTAssertEqual(failedIndex, index, "\(error)", file: file, line: line)
            XCTAssertEqual(failedNode, node, "\(error)", file: file, line: line)
            for part in parts { XCTAssertTrue(reason.contains(part), "missing '\(part)' in: \(error)", file: file, line: line) }
        }
        XCTAssertThrowsError(try graph.validate(), file: file, line: line)
    }

    private func conv(kernel: [Int] = [3, 3], stride: [Int] = [1, 1], padding: Padding2d = Padding2d(1),
                      dilation: [Int] = [1, 1], outChannels: Int = 4, groups: Int = 1) -> Op {
        .conv2d(Conv2dAttributes(outChannels: outChannels, kernelSize: kernel, stride: stride, padding: padding,
                                 dilation: dilation, groups: groups))
    }

    func testValidWindowsStillInfer() throws {
        // The checked arithmetic gives the sizes it gave before (PyTorch's, ceil mode included).
        XCTAssertEqual(try graph(conv(padding: Padding2d(top: 1, left: 0, bottom: 1, right: 2), dilation: [2, 1])).inferShapes()[1],
                       [4, 6, 8])
        XCTAssertEqual(try graph(.maxPool(Pool2dAttributes(kernelSize: [3, 3], stride: [2, 2], ceilMode: true)),
                                 input: [3, 8, 7]).inferShapes()[1], [3, 4, 3])
        XCTAssertEqual(try graph(.avgPool(Pool2dAttributes(kernelSize: [2, 2], stride: [2, 2], padding: Padding2d(1),
                                                           ceilMode: true)), input: [3, 5, 5]).inferShapes()[1], [3, 3, 3])
        for size in 1...9 {
            for kernel in 1...3 {
                for stride in 1...3 {
                    for pad in 0...(kernel / 2) {
                        for ceilMode in [false, true] {
                            let a = Pool2dAttributes(kernelSize: [kernel, kernel], stride: [stride, stride], padding: Padding2d(pad),
                                                     ceilMode: ceilMode)
                            let expected = windowOutputSize(input: size, kernel: kernel, stride: stride, padBefore: pad,
                                                            padAfter: pad, ceilMode: ceilMode)
                            guard expected > 0 else { continue }
                            XCTAssertEqual(try graph(.maxPool(a), input: [1, size, size]).inferShapes()[1], [1, expected, expected],
                                           "size \(size) kernel \(kernel) stride \(stride) pad \(pad) ceil \(ceilMode)")
                        }
                    }
                }
            }
        }
    }

    /// The file from the bug report: dilation 2^62 made `dilation·(kernel−1)+1` trap.
    func testHugeDilationIsAnErrorNamingTheKernelExtent() {
        assertInvalid(graph(conv(dilation: [4_611_686_018_427_387_904, 1])), "height", "kernel extent", "overflows")
        assertInvalid(graph(conv(dilation: [1, Int.max])), "width", "kernel extent")
        // Large but not overflowing: a window larger than the input.
        assertInvalid(graph(conv(dilation: [1 << 40, 1])), "larger than padded input 8x8")
    }

    func testNegativeAndOverflowingPaddingAreErrors() {
        assertInvalid(graph(conv(padding: Padding2d(top: -2, left: 1, bottom: 1, right: 1))), "padding", "top -2", "non-negative")
        assertInvalid(graph(conv(padding: Padding2d(top: 0, left: Int.max, bottom: 0, right: Int.max))),
                      "width: padded input", "overflows")
        assertInvalid(graph(.maxPool(Pool2dAttributes(kernelSize: [2, 2], padding: Padding2d(top: 0, left: -1, bottom: 0, right: 0)))),
                      "non-negative")
        assertInvalid(graph(.avgPool(Pool2dAttributes(kernelSize: [2, 2], stride: [1, 1],
                                                      padding: Padding2d(top: Int.max, left: 0, bottom: 0, right: 0)))),
                      "at most half the kernel size")
    }

    func testNonPositiveSizesNameTheirField() {
        assertInvalid(graph(conv(kernel: [3, 0])), "kernelSize [3, 0] must be positive")
        assertInvalid(graph(conv(stride: [-1, 1])), "stride [-1, 1] must be positive")
        assertInvalid(graph(conv(dilation: [0, 1])), "dilation [0, 1] must be positive")
        assertInvalid(graph(conv(kernel: [3])), "kernelSize [3] needs 2 values")
        assertInvalid(graph(conv(outChannels: 0)), "outChannels 0 must be positive")
        assertInvalid(graph(conv(groups: 0)), "groups 0")
        assertInvalid(graph(.maxPool(Pool2dAttributes(kernelSize: [2, 2], stride: [0, 2]))), "stride [0, 2] must be positive")
        assertInvalid(graph(.channelShuffle(groups: -3)), "groups -3")
        assertInvalid(graph(.batchNorm(BatchNormAttributes(eps: -1))), "eps -1.0")
        assertInvalid(graph(.batchNorm(BatchNormAttributes(eps: .nan))), "eps nan")
        assertInvalid(graph(.batchNorm(BatchNormAttributes(momentum: 2))), "momentum 2.0")
        assertInvalid(graph(.dropout(p: .nan)), "dropout probability")
    }

    func testInputDimensionsArePositiveAndBounded() {
        assertInvalid(graph(.relu, input: [3, 0, 8]), index: 0, node: "input", "input dimension 1", "must be positive")
        assertInvalid(graph(.relu, input: []), index: 0, node: "input", "input shape is empty")
        assertInvalid(graph(.relu, input: [3, 1 << 31, 1 << 31]), index: 0, node: "input", "more than 4294967296 elements")
        assertInvalid(graph(.relu, input: [1 << 62, 1 << 62, 4]), index: 0, node: "input", "more than 4294967296 elements")
        XCTAssertNil(Shape([1 << 62, 1 << 62, 4]).checkedElementCount)
        XCTAssertEqual(Shape([3, 1 << 15, 1 << 15]).checkedElementCount, 3 << 30)
    }

    func testParameterAndOutputCountsAreBounded() {
        // A weight [2^40, 3, 3, 3]: too many elements, though every attribute is valid.
        assertInvalid(graph(conv(outChannels: 1 << 40)), "weight of shape [1099511627776, 3, 3, 3]", "more than")
        let flat = Graph(nodes: [Node(name: "input", op: .input(shape: [16]), inputs: []),
                                 Node(name: "fc", op: .linear(LinearAttributes(outFeatures: 1 << 62)), inputs: [0])],
                         outputs: [1])
        assertInvalid(flat, node: "fc", "weight of shape [4611686018427387904, 16]", "more than")
        // An output over the bound: 2^16 channels of a [1, 2^16, 2^16] map.
        assertInvalid(graph(conv(kernel: [1, 1], padding: Padding2d(0), outChannels: 1 << 16), input: [1, 1 << 16, 1 << 16]),
                      "output shape [65536x65536x65536]", "more than 4294967296 elements")
        // A channel slice whose end overflows.
        assertInvalid(graph(.channelSlice(start: Int.max, count: 1)), "start 9223372036854775807, count 1", "outside")
    }
}
