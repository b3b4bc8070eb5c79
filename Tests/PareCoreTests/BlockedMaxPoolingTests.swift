@testable import PareCore
import XCTest

/// The blocked max pooling kernels against the reference max pooling (PyTorch's rules):
/// forward values and backward gradients must be identical (a maximum is exact, and both add
/// overlapping windows' gradients in the same order), on inputs full of ties, with NaNs, odd
/// sizes that leave rows uncovered, overlapping padded windows, ceil mode, non-square
/// windows, padded channel blocks and both block sizes.
final class BlockedMaxPoolingTests: XCTestCase {
    struct Case {
        var batch, channels, height, width: Int
        var pooling: Pool2dAttributes
        var block: Int
        var nans = false
    }

    let cases: [Case] = [
        Case(batch: 2, channels: 10, height: 26, width: 26, pooling: Pool2dAttributes(kernelSize: [2, 2]), block: 8),
        Case(batch: 2, channels: 20, height: 13, width: 13, pooling: Pool2dAttributes(kernelSize: [2, 2]), block: 16),
        Case(batch: 1, channels: 8, height: 9, width: 10,
             pooling: Pool2dAttributes(kernelSize: [3, 3], stride: [2, 2], padding: Padding2d(1)), block: 8, nans: true),
        Case(batch: 2, channels: 5, height: 7, width: 7, pooling: Pool2dAttributes(kernelSize: [2, 2], ceilMode: true),
             block: 8),
        Case(batch: 1, channels: 17, height: 8, width: 6,
             pooling: Pool2dAttributes(kernelSize: [3, 2], stride: [2, 1], padding: Padding2d(top: 1, left: 0, bottom: 1, right: 0)),
             block: 16, nans: true),
    ]

    func testMatchesTheReferenceExactly() {
        for c in cases { check(c) }
    }

    func testSupportsKernelsUpTo255Elements() {
        XCTAssertTrue(BlockedMaxPooling.supports(Pool2dAttributes(kernelSize: [15, 17]), input: [1, 8, 30, 34], output: [1, 8, 2, 2]))
        XCTAssertFalse(BlockedMaxPooling.supports(Pool2dAttributes(kernelSize: [16, 16]), input: [1, 8, 32, 32], output: [1, 8, 2, 2]))
    }

    func check(_ c: Case, file: StaticString = #filePath, line: UInt = #line) {
        let label = "\(c)"
        let (outHeight, outWidth) = referencePool2dOutputSize(height: c.height, width: c.width, attributes: c.pooling)
        let inShape = [c.batch, c.channels, c.height, c.width], outShape = [c.batch, c.channels, outHeight, outWidth]
        var generator = SeededGenerator(seed: UInt64(c.channels * 100 + c.height))
        // Few distinct values, so windows hold ties.
        var x = randomArray(inShape.reduce(1, *), &generator, in: 0...3.99).map { Float(Int($0)) - 1.5 }
        if c.nans { for i in stride(from: 7, to: x.count, by: 23) { x[i] = .nan } }
        let dy = randomArray(outShape.reduce(1, *), &generator).map(Float.init)

        var y = [Float](repeating: 0, count: dy.count)
        referenceMaxPool2dForward(output: &y, input: x, batch: c.batch, channels: c.channels, height: c.height,
                                  width: c.width, attributes: c.pooling)
        var dx = [Float](repeating: 0, count: x.count)
        referenceMaxPool2dBackward(dInput: &dx, dOutput: dy, input: x, batch: c.batch, channels: c.channels,
                                   height: c.height, width: c.width, attributes: c.pooling)

        let pooling = BlockedMaxPooling(c.pooling, input: inShape, output: outShape, block: c.block)
        XCTAssertEqual(pooling.positionBytes, BlockedLayout.count(outShape, block: c.block), label, file: file, line: line)
        let blockedX = BlockedLayout.blocked(x, inShape, block: c.block)
        let blockedDy = BlockedLayout.blocked(dy, outShape, block: c.block)
        var blockedY = [Float](repeating: 42, count: BlockedLayout.count(outShape, block: c.block))
        var inferenceY = blockedY
        var positions = [UInt8](repeating: 200, count: pooling.positionBytes)
        var blockedDx = [Float](repeating: 42, count: blockedX.count)
        pooling.forward(source: blockedX, destination: &blockedY, positions: &positions)
        pooling.forward(source: blockedX, destination: &inferenceY, positions: nil)
        pooling.backward(destinationGradient: blockedDy, positions: positions, sourceGradient: &blockedDx)

        assertIdentical(BlockedLayout.plain(blockedY, outShape, block: c.block), y, "\(label) forward", file: file, line: line)
        assertIdentical(inferenceY, blockedY, "\(label) forward without positions", file: file, line: line)
        assertIdentical(BlockedLayout.plain(blockedDx, inShape, block: c.block), dx, "\(label) backward", file: file, line: line)
        // The channels that pad the last block stay zero.
        assertIdentical(BlockedLayout.blocked(BlockedLayout.plain(blockedY, outShape, block: c.block), outShape, block: c.block),
                        blockedY, "\(label) output padding lanes", file: file, line: line)
        assertIdentical(BlockedLayout.blocked(BlockedLayout.plain(blockedDx, inShape, block: c.block), inShape, block: c.block),
                        blockedDx, "\(label) gradient padding lanes", file: file, line: line)
    }

    /// Equal element by element, NaN matching NaN; reports the first difference.
    func assertIdentical(_ actual: [Float], _ expected: [Float], _ label: String, file: StaticString, line: UInt) {
        XCTAssertEqual(actual.count, expected.count, "\(label): element count", file: file, line: line)
        let differing = actual.indices.filter { actual[$0] != expected[$0] && !(actual[$0].isNaN && expected[$0].isNaN) }
        guard let i = differing.first else { return }
        XCTFail("\(label): \(differing.count) of \(actual.count) elements differ; first at \(i): \(actual[i]) vs \(expected[i])",
                file: file, line: line)
    }
}
