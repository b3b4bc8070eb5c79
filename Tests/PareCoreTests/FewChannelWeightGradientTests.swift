@testable import PareCore
import XCTest

/// The few-input-channel weights' gradient against a plain sum in Double, on 1 to 4 input
/// channels, kernels 3x3, 5x5 and 3x2, strides 1 and 2, padding (asymmetric too), maps
/// whose width is not a multiple of 4, padded channel blocks, both block sizes, 1 to 3
/// shares of the batch, bias or not, and both the AVX2 and the portable code.
///
/// Tolerance: atol 1e-5 times the largest magnitude of the expected tensor, rtol 1e-4.
final class FewChannelWeightGradientTests: XCTestCase {
    struct Case {
        var batch, inChannels, outChannels, height, width: Int
        var convolution: Conv2dAttributes
        var block: Int
        var threads = 2
        var portable = false
    }

    let cases: [Case] = [
        Case(batch: 5, inChannels: 1, outChannels: 32, height: 28, width: 28,
             convolution: Conv2dAttributes(outChannels: 32, kernelSize: [3, 3], bias: true), block: 8),
        Case(batch: 3, inChannels: 3, outChannels: 20, height: 13, width: 11,
             convolution: Conv2dAttributes(outChannels: 20, kernelSize: [3, 3], padding: Padding2d(1)), block: 16, threads: 3),
        Case(batch: 2, inChannels: 4, outChannels: 12, height: 17, width: 15,
             convolution: Conv2dAttributes(outChannels: 12, kernelSize: [5, 5], stride: [2, 2], padding: Padding2d(2), bias: true),
             block: 8, threads: 1),
        Case(batch: 3, inChannels: 2, outChannels: 9, height: 10, width: 9,
             convolution: Conv2dAttributes(outChannels: 9, kernelSize: [3, 2], stride: [2, 1],
                                           padding: Padding2d(top: 0, left: 1, bottom: 2, right: 0), bias: true),
             block: 8, portable: true),
    ]

    func testAgreesWithAPlainSum() {
        for c in cases { check(c) }
    }

    func testSupportsOneToFourInputChannels() {
        let a = Conv2dAttributes(outChannels: 16, kernelSize: [3, 3])
        XCTAssertTrue(FewChannelWeightGradient.supports(a, input: [2, 4, 8, 8], output: [2, 16, 6, 6]))
        XCTAssertFalse(FewChannelWeightGradient.supports(a, input: [2, 5, 8, 8], output: [2, 16, 6, 6]))
        var dilated = a; dilated.dilation = [2, 2]
        XCTAssertFalse(FewChannelWeightGradient.supports(dilated, input: [2, 3, 8, 8], output: [2, 16, 4, 4]))
        var grouped = Conv2dAttributes(outChannels: 4, kernelSize: [3, 3], groups: 2)
        grouped.bias = false
        XCTAssertFalse(FewChannelWeightGradient.supports(grouped, input: [2, 2, 8, 8], output: [2, 4, 6, 6]))
    }

    func check(_ c: Case, file: StaticString = #filePath, line: UInt = #line) {
        let label = "\(c)"
        let a = c.convolution
        let (kh, kw) = (a.kernelSize[0], a.kernelSize[1])
        let ho = windowOutputSize(input: c.height, kernel: kh, stride: a.stride[0], padBefore: a.padding.top, padAfter: a.padding.bottom)
        let wo = windowOutputSize(input: c.width, kernel: kw, stride: a.stride[1], padBefore: a.padding.left, padAfter: a.padding.right)
        let (n, ci, co) = (c.batch, c.inChannels, c.outChannels)
        var generator = SeededGenerator(seed: UInt64(ci * 100 + co))
        let x = randomArray(n * ci * c.height * c.width, &generator)
        let dy = randomArray(n * co * ho * wo, &generator)

        var dw = [Double](repeating: 0, count: co * ci * kh * kw)
        var db = [Double](repeating: 0, count: co)
        for b in 0..<n { for k in 0..<co { for oy in 0..<ho { for ox in 0..<wo {
            let g = dy[((b * co + k) * ho + oy) * wo + ox]
            db[k] += g
            for cc in 0..<ci { for r in 0..<kh { for s in 0..<kw {
                let iy = oy * a.stride[0] + r - a.padding.top, ix = ox * a.stride[1] + s - a.padding.left
                guard iy >= 0 && iy < c.height && ix >= 0 && ix < c.width else { continue }
                dw[((k * ci + cc) * kh + r) * kw + s] += g * x[((b * ci + cc) * c.height + iy) * c.width + ix]
            } } }
        } } } }

        let kernel = FewChannelWeightGradient(a, input: [n, ci, c.height, c.width], output: [n, co, ho, wo], block: c.block,
                                              threads: c.threads, portable: c.portable)
        var workspace = [Float](repeating: .nan, count: kernel.workspaceFloats)
        var gotDw = [Float](repeating: .nan, count: dw.count)
        var gotDb = [Float](repeating: .nan, count: co)
        let blockedDy = BlockedLayout.blocked(dy.map(Float.init), [n, co, ho, wo], block: c.block)
        gotDb.withUnsafeMutableBufferPointer { dbPointer in
            kernel.backwardWeights(source: x.map(Float.init), destinationGradient: blockedDy, weightsGradient: &gotDw,
                                   biasGradient: a.bias ? dbPointer.baseAddress! : nil, workspace: &workspace)
        }
        func compare(_ actual: [Float], _ expected: [Double], _ what: String) {
            let scale = max(1, expected.map(abs).max() ?? 0)
            assertClose(actual, expected.map(Float.init), atol: 1e-5 * scale, rtol: 1e-4, "\(label) \(what)", file: file, line: line)
        }
        compare(gotDw, dw, "weights gradient")
        if a.bias { compare(gotDb, db, "bias gradient") } else { XCTAssertTrue(gotDb.allSatisfy(\.isNaN), label, file: file, line: line) }
    }
}
