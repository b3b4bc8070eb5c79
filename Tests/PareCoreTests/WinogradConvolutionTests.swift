@testable import PareCore
import XCTest

/// The Winograd F(4x4, 3x3) kernels against a plain convolution in Double: forward,
/// backward data and backward weights (and bias), on shapes with partial tiles, padded
/// channel blocks, every padding 0...2, both block sizes, several image chunks, and both the
/// AVX2 and the portable code.
///
/// Tolerance: atol 2e-5 times the largest magnitude of the expected tensor (the transforms'
/// constants up to 8 and 1/24 cost a few bits against the direct sum), rtol 1e-4.
final class WinogradConvolutionTests: XCTestCase {
    struct Case {
        var batch, inChannels, outChannels, height, width, padding, block: Int
        var bias = false
        var chunkImages: Int? = nil
        var portable = false
    }

    let cases: [Case] = [
        Case(batch: 3, inChannels: 12, outChannels: 20, height: 9, width: 9, padding: 1, block: 8, bias: true),
        Case(batch: 2, inChannels: 16, outChannels: 8, height: 7, width: 10, padding: 0, block: 16, bias: true),
        Case(batch: 2, inChannels: 8, outChannels: 24, height: 5, width: 6, padding: 2, block: 8),
        Case(batch: 5, inChannels: 9, outChannels: 17, height: 8, width: 8, padding: 1, block: 16, chunkImages: 2),
        Case(batch: 3, inChannels: 12, outChannels: 20, height: 6, width: 11, padding: 1, block: 8, bias: true,
             chunkImages: 2, portable: true),
    ]

    func testAgreesWithADirectConvolution() {
        for c in cases { check(c) }
    }

    func testSupportsOnlyWhatItComputes() {
        let a = Conv2dAttributes(outChannels: 16, kernelSize: [3, 3], padding: Padding2d(1))
        XCTAssertTrue(WinogradConvolution.supports(a, input: [2, 16, 8, 8], output: [2, 16, 8, 8]))
        var strided = a; strided.stride = [2, 2]
        XCTAssertFalse(WinogradConvolution.supports(strided, input: [2, 16, 8, 8], output: [2, 16, 4, 4]))
        var grouped = a; grouped.groups = 2
        XCTAssertFalse(WinogradConvolution.supports(grouped, input: [2, 16, 8, 8], output: [2, 16, 8, 8]))
        var wide = a; wide.kernelSize = [5, 5]; wide.padding = Padding2d(2)
        XCTAssertFalse(WinogradConvolution.supports(wide, input: [2, 16, 8, 8], output: [2, 16, 8, 8]))
        XCTAssertFalse(WinogradConvolution.supports(a, input: [2, 3, 8, 8], output: [2, 16, 8, 8]), "3 input channels")
    }

    func check(_ c: Case, file: StaticString = #filePath, line: UInt = #line) {
        let label = "\(c)"
        let (n, ci, co, h, w, p) = (c.batch, c.inChannels, c.outChannels, c.height, c.width, c.padding)
        let (ho, wo) = (h + 2 * p - 2, w + 2 * p - 2)
        var generator = SeededGenerator(seed: UInt64(ci * 1000 + co))
        let x = randomArray(n * ci * h * w, &generator)
        let weights = randomArray(co * ci * 9, &generator, in: -0.5...0.5)
        let bias = randomArray(co, &generator)
        let dy = randomArray(n * co * ho * wo, &generator)

        // Direct convolution in Double: y, dx, dw, db.
        var y = [Double](repeating: 0, count: n * co * ho * wo)
        var dx = [Double](repeating: 0, count: x.count)
        var dw = [Double](repeating: 0, count: weights.count)
        var db = [Double](repeating: 0, count: co)
        for b in 0..<n {
            for k in 0..<co {
                for oy in 0..<ho {
                    for ox in 0..<wo {
                        let o = ((b * co + k) * ho + oy) * wo + ox
                        var sum = c.bias ? bias[k] : 0
                        db[k] += dy[o]
                        for cc in 0..<ci {
                            for r in 0..<3 {
                                let iy = oy + r - p
                                guard iy >= 0 && iy < h else { continue }
                                for s in 0..<3 {
                                    let ix = ox + s - p
                                    guard ix >= 0 && ix < w else { continue }
                                    let xi = ((b * ci + cc) * h + iy) * w + ix, wi = ((k * ci + cc) * 3 + r) * 3 + s
                                    sum += weights[wi] * x[xi]
                                    dx[xi] += weights[wi] * dy[o]
                                    dw[wi] += x[xi] * dy[o]
                                }
                            }
                        }
                        y[o] = sum
                    }
                }
            }
        }

        let a = Conv2dAttributes(outChannels: co, kernelSize: [3, 3], padding: Padding2d(p), bias: c.bias)
        let conv = WinogradConvolution(a, input: [n, ci, h, w], output: [n, co, ho, wo], block: c.block,
                                       chunkImages: c.chunkImages, portable: c.portable)
        let workspace = [Float](repeating: .nan, count: [.forward, .backwardData, .backwardWeights]
            .map(conv.workspaceFloats).max()!)
        let blockedX = BlockedLayout.blocked(x.map(Float.init), [n, ci, h, w], block: c.block)
        let blockedDy = BlockedLayout.blocked(dy.map(Float.init), [n, co, ho, wo], block: c.block)
        let floatWeights = weights.map(Float.init), floatBias = bias.map(Float.init)
        var blockedY = [Float](repeating: .nan, count: BlockedLayout.count([n, co, ho, wo], block: c.block))
        var blockedDx = [Float](repeating: .nan, count: blockedX.count)
        var gotDw = [Float](repeating: .nan, count: weights.count)
        var gotDb = [Float](repeating: .nan, count: co)
        var scratch = workspace
        scratch.withUnsafeMutableBufferPointer { ws in
            conv.forward(source: blockedX, weights: floatWeights, bias: c.bias ? floatBias : nil,
                         destination: &blockedY, workspace: ws.baseAddress!)
            conv.backwardData(destinationGradient: blockedDy, weights: floatWeights, sourceGradient: &blockedDx,
                              workspace: ws.baseAddress!)
            gotDb.withUnsafeMutableBufferPointer { dbPointer in
                conv.backwardWeights(source: blockedX, destinationGradient: blockedDy, weightsGradient: &gotDw,
                                     biasGradient: c.bias ? dbPointer.baseAddress! : nil, workspace: ws.baseAddress!)
            }
        }
        func compare(_ actual: [Float], _ expected: [Double], _ what: String) {
            let scale = max(1, expected.map(abs).max() ?? 0)
            assertClose(actual, expected.map(Float.init), atol: 2e-5 * scale, rtol: 1e-4, "\(label) \(what)",
                        file: file, line: line)
        }
        compare(BlockedLayout.plain(blockedY, [n, co, ho, wo], block: c.block), y, "forward")
        compare(BlockedLayout.plain(blockedDx, [n, ci, h, w], block: c.block), dx, "backward data")
        compare(gotDw, dw, "backward weights")
        if c.bias { compare(gotDb, db, "bias gradient") }
        // The channels that pad the last block stay zero.
        let padded = BlockedLayout.count([n, co, ho, wo], block: c.block) != n * co * ho * wo
        if padded {
            let roundTrip = BlockedLayout.blocked(BlockedLayout.plain(blockedY, [n, co, ho, wo], block: c.block), [n, co, ho, wo], block: c.block)
            let differing = zip(roundTrip, blockedY).filter { $0 != $1 }.count
            XCTAssertEqual(differing, 0, "\(label): padding lanes of the output are not zero", file: file, line: line)
        }
    }
}
