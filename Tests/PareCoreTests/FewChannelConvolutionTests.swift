@testable import PareCore
import XCTest

/// The fused one-channel convolution (+ bias, ReLU, max pooling) against a plain sum in
/// Double and a plain max: kernels 3×3, 7×7 (stride 2, padding 3, ResNet's first layer), 5×5
/// and 3×2 (asymmetric stride and padding), widths that leave runs of 5, 4, 2 and 1 pixels
/// and edge pixels, output channels that leave an unpaired 8-channel group and padded block
/// lanes, both block sizes, pooling with overlapping, padded and clipped (ceil-mode) windows,
/// 1 and 3 threads, the AVX2 and the portable code, and a NaN in the source.
///
/// Tolerance: atol 1e-5 times the largest magnitude of the expected tensor, rtol 1e-4;
/// padding lanes must be exactly zero.
final class FewChannelConvolutionTests: XCTestCase {
    struct Case {
        var batch, outChannels, height, width: Int
        var convolution: Conv2dAttributes
        var relu = true
        var pooling: Pool2dAttributes?
        var block = 8
        var threads = 2
        var portable = false
        var nanAt: Int?
    }

    let cases: [Case] = [
        // smallcnn's first layer: 26 = 5 + 5 + 5 + 5 + 5 + 1 pixels, pooled 2×2.
        Case(batch: 3, outChannels: 32, height: 28, width: 28,
             convolution: Conv2dAttributes(outChannels: 32, kernelSize: [3, 3], bias: true),
             pooling: Pool2dAttributes(kernelSize: [2, 2])),
        // ResNet's 7×7 stride 2 with its 3×3 stride-2 pooling (padding 1, overlapping windows).
        Case(batch: 2, outChannels: 16, height: 23, width: 30,
             convolution: Conv2dAttributes(outChannels: 16, kernelSize: [7, 7], stride: [2, 2], padding: Padding2d(3)),
             pooling: Pool2dAttributes(kernelSize: [3, 3], stride: [2, 2], padding: Padding2d(1)), block: 16, threads: 3),
        // 20 channels: groups 0-1, 2-3 and an unpaired 4; no ReLU, no pooling; 2 + 1 pixel runs.
        Case(batch: 2, outChannels: 20, height: 9, width: 7,
             convolution: Conv2dAttributes(outChannels: 20, kernelSize: [3, 2], stride: [2, 1],
                                           padding: Padding2d(top: 0, left: 1, bottom: 2, right: 0), bias: true),
             relu: false, threads: 1),
        // 12 channels in a block of 16 (4 padding lanes); pooling in ceil mode clips the last window.
        Case(batch: 2, outChannels: 12, height: 12, width: 11,
             convolution: Conv2dAttributes(outChannels: 12, kernelSize: [5, 5], padding: Padding2d(2), bias: true),
             pooling: Pool2dAttributes(kernelSize: [2, 2], ceilMode: true), block: 16, portable: true),
        // A NaN in the source reaches the outputs whose windows read it, through ReLU and pooling.
        Case(batch: 1, outChannels: 8, height: 10, width: 10,
             convolution: Conv2dAttributes(outChannels: 8, kernelSize: [3, 3], padding: Padding2d(1)),
             pooling: Pool2dAttributes(kernelSize: [2, 2]), nanAt: 34),
    ]

    func testAgreesWithAPlainSumAndMax() {
        for c in cases { check(c) }
    }

    func testSupportsOneInputChannelAndAnyPooling() {
        let a = Conv2dAttributes(outChannels: 16, kernelSize: [3, 3])
        XCTAssertTrue(FewChannelConvolution.supports(a, input: [2, 1, 8, 8], output: [2, 16, 6, 6]))
        XCTAssertFalse(FewChannelConvolution.supports(a, input: [2, 3, 8, 8], output: [2, 16, 6, 6]))
        var dilated = a; dilated.dilation = [2, 2]
        XCTAssertFalse(FewChannelConvolution.supports(dilated, input: [2, 1, 8, 8], output: [2, 16, 4, 4]))
        XCTAssertTrue(FewChannelConvolution.supportsPooling(Pool2dAttributes(kernelSize: [3, 3], stride: [2, 2], padding: Padding2d(1))))
    }

    func check(_ c: Case, file: StaticString = #filePath, line: UInt = #line) {
        let label = "\(c)"
        let a = c.convolution
        let (kh, kw) = (a.kernelSize[0], a.kernelSize[1])
        let ho = windowOutputSize(input: c.height, kernel: kh, stride: a.stride[0], padBefore: a.padding.top, padAfter: a.padding.bottom)
        let wo = windowOutputSize(input: c.width, kernel: kw, stride: a.stride[1], padBefore: a.padding.left, padAfter: a.padding.right)
        let (n, co) = (c.batch, c.outChannels)
        var generator = SeededGenerator(seed: UInt64(co * 100 + kh))
        var x = randomArray(n * c.height * c.width, &generator)
        if let nanAt = c.nanAt { x[nanAt] = .nan }
        let w = randomArray(co * kh * kw, &generator)
        let b = a.bias ? randomArray(co, &generator) : [Double](repeating: 0, count: co)

        var conv = [Double](repeating: 0, count: n * co * ho * wo)
        for i in 0..<n { for k in 0..<co { for oy in 0..<ho { for ox in 0..<wo {
            var sum = b[k]
            for r in 0..<kh { for s in 0..<kw {
                let iy = oy * a.stride[0] + r - a.padding.top, ix = ox * a.stride[1] + s - a.padding.left
                guard iy >= 0 && iy < c.height && ix >= 0 && ix < c.width else { continue }
                sum += w[(k * kh + r) * kw + s] * x[(i * c.height + iy) * c.width + ix]
            } }
            conv[((i * co + k) * ho + oy) * wo + ox] = c.relu && !sum.isNaN ? max(sum, 0) : sum
        } } } }
        var expected = conv, outShape = [n, co, ho, wo]
        if let p = c.pooling {
            let ph = windowOutputSize(input: ho, kernel: p.kernelSize[0], stride: p.stride[0], padBefore: p.padding.top,
                                      padAfter: p.padding.bottom, ceilMode: p.ceilMode)
            let pw = windowOutputSize(input: wo, kernel: p.kernelSize[1], stride: p.stride[1], padBefore: p.padding.left,
                                      padAfter: p.padding.right, ceilMode: p.ceilMode)
            outShape = [n, co, ph, pw]
            expected = [Double](repeating: 0, count: n * co * ph * pw)
            for i in 0..<n { for k in 0..<co { for oy in 0..<ph { for ox in 0..<pw {
                var best = -Double.infinity
                for r in 0..<p.kernelSize[0] { for s in 0..<p.kernelSize[1] {
                    let y = oy * p.stride[0] + r - p.padding.top, xx = ox * p.stride[1] + s - p.padding.left
                    guard y >= 0 && y < ho && xx >= 0 && xx < wo else { continue }
                    let v = conv[((i * co + k) * ho + y) * wo + xx]
                    if v.isNaN || best.isNaN { best = .nan } else { best = max(best, v) }
                } }
                expected[((i * co + k) * ph + oy) * pw + ox] = best
            } } } }
        }

        DNNLEngine.setThreads(c.threads)
        let kernel = FewChannelConvolution(a, input: [n, 1, c.height, c.width], convolutionOutput: [n, co, ho, wo], relu: c.relu,
                                           pooling: c.pooling, output: outShape, block: c.block, portable: c.portable)
        var packed = [Float](repeating: .nan, count: kernel.packedFloats)
        kernel.pack(weights: w.map(Float.init), bias: a.bias ? b.map(Float.init) : nil, into: &packed)
        var workspace = [Float](repeating: .nan, count: kernel.workspaceFloats(threads: c.threads))
        var got = [Float](repeating: .nan, count: BlockedLayout.count(outShape, block: c.block))
        workspace.withUnsafeMutableBufferPointer { ws in
            kernel.forward(source: x.map(Float.init), packed: packed, destination: &got, workspace: ws.baseAddress)
        }
        // Padding lanes are exactly zero: the blocked layout of the result read back is the same array.
        let plain = BlockedLayout.plain(got, outShape, block: c.block)
        XCTAssertEqual(BlockedLayout.blocked(plain, outShape, block: c.block).map(\.bitPattern), got.map(\.bitPattern),
                       "\(label): padding lanes", file: file, line: line)
        let nan = expected.map(\.isNaN)
        XCTAssertEqual(plain.map(\.isNaN), nan, "\(label): NaN positions", file: file, line: line)
        if c.nanAt != nil { XCTAssertTrue(nan.contains(true), "\(label): the NaN reaches no output", file: file, line: line) }
        let scale = max(1, expected.filter { !$0.isNaN }.map(abs).max() ?? 0)
        assertClose(zip(plain, nan).map { $1 ? 0 : $0 }, zip(expected, nan).map { $1 ? 0 : Float($0) },
                    atol: 1e-5 * scale, rtol: 1e-4, label, file: file, line: line)
        guard c.pooling != nil else { return }

        // Quantised to u8 and s8 (with a zero point) NHWC: exactly the f32 result times the
        // inverse scale, rounded half to even, clamped (s8 saturates; NaN to the zero point), as oneDNN's reorder.
        for q in [ActivationQuantization(scale: Float(scale) / 200, dtype: .u8),
                  ActivationQuantization(scale: Float(scale) / 150, zeroPoint: -7, dtype: .i8)] {
            let quantizing = FewChannelConvolution(a, input: [n, 1, c.height, c.width], convolutionOutput: [n, co, ho, wo],
                                                   relu: c.relu, pooling: c.pooling, output: outShape, block: c.block,
                                                   quantizedOutput: q, portable: c.portable)
            var bytes = [UInt8](repeating: 0xA5, count: outShape.reduce(1, *))
            workspace.withUnsafeMutableBufferPointer { ws in
                quantizing.forward(source: x.map(Float.init), packed: packed, destination: &bytes, workspace: ws.baseAddress)
            }
            let inverse = 1 / q.scale
            let (ph, pw) = (outShape[2], outShape[3])
            var wrong = 0, first = ""
            for i in 0..<n { for k in 0..<co { for y in 0..<ph { for xx in 0..<pw {
                let v = plain[((i * co + k) * ph + y) * pw + xx]
                let lower = Float(q.range.lowerBound - q.zeroPoint), upper = Float(q.range.upperBound - q.zeroPoint)
                let want = v.isNaN ? q.zeroPoint : Int32(min(max((v * inverse).rounded(.toNearestOrEven), lower), upper)) + q.zeroPoint
                let byte = bytes[((i * ph + y) * pw + xx) * co + k]
                let got = q.dtype == .u8 ? Int32(byte) : Int32(Int8(bitPattern: byte))
                if got != want {
                    if wrong == 0 { first = "image \(i) channel \(k) pixel (\(y), \(xx)): \(got) instead of \(want) (value \(v))" }
                    wrong += 1
                }
            } } } }
            XCTAssertEqual(wrong, 0, "\(label) \(q.dtype): \(wrong) wrong, first \(first)", file: file, line: line)
        }
    }
}
