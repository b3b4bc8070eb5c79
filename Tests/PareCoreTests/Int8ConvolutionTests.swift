import Foundation
import PareCore
import XCTest

/// oneDNN's int8 convolutions against the plain reference convolution run in Double on the
/// same integers (exact: every sum stays far below 2^53), including the worst case for the
/// 16-bit pair sums of AVX2's `vpmaddubsw`.
final class Int8ConvolutionTests: XCTestCase {
    /// input (u8 or s8 at scale 1) → conv with the given integer weights (scale 1) → f32 output,
    /// so the executor's output is the integer accumulator itself.
    func run(input: [Int32], inputType: DType, weights: [Int8], channels: Int, outChannels: Int, size: Int,
             groups: Int = 1, kernel: Int = 3, bits: Int) throws -> (got: [Float], expected: [Double]) {
        let conv = Conv2dAttributes(outChannels: outChannels, kernelSize: [kernel, kernel], padding: Padding2d(kernel / 2), groups: groups)
        var graph = Graph(nodes: [
            Node(name: "input", op: .input(shape: [channels, size, size]), inputs: [],
                 quantization: NodeQuantization(output: ActivationQuantization(scale: 1, dtype: inputType))),
            Node(name: "conv", op: .conv2d(conv), inputs: [0],
                 quantization: NodeQuantization(weights: WeightQuantization(bits: bits))),
        ], outputs: [1])
        let w = Tensor(zeros: [outChannels, channels / groups, kernel, kernel], dtype: .i8)
        w.storage.pointer.copyMemory(from: weights, byteCount: weights.count)
        graph.parameters["conv.weight"] = w
        graph.parameters["conv.weight_scale"] = Tensor(repeating: 1, shape: [outChannels])
        try graph.validate()
        let x = try Tensor(shape: [1, channels, size, size], values: input.map(Float.init))
        let executor = try DNNLExecutor(graph: graph, batchSize: 1, mode: .inference)
        XCTAssertTrue(executor.planDescription.contains("conv forward int8"), executor.planDescription)
        let got = try executor.forward([x])[0].scalars
        var expected = [Double](repeating: 0, count: outChannels * size * size)
        referenceConv2dForward(output: &expected, input: input.map(Double.init), weight: weights.map(Double.init), bias: nil,
                               batch: 1, inChannels: channels, height: size, width: size, attributes: conv)
        XCTAssertEqual(got.count, expected.count)
        return (got, expected)
    }

    func worst(_ r: (got: [Float], expected: [Double])) -> (Double, Int) {
        var worst = 0.0, at = 0
        for (k, (g, e)) in zip(r.got, r.expected).enumerated() where abs(Double(g) - e) > worst {
            worst = abs(Double(g) - e)
            at = k
        }
        return (worst, at)
    }

    var cpuHasVNNI: Bool {
        let info = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        return info.contains("avx512_vnni") || info.contains("avx_vnni")
    }

    /// The worst case for `vpmaddubsw`: every input 255, every weight the largest 7-bit level.
    /// Each pair sums to 2 · 255 · 63 = 32130 < 32767, so nothing saturates.
    func testSevenBitWeightsDoNotSaturateAtTheWorstCase() throws {
        let channels = 32, out = 8, size = 5
        let input = [Int32](repeating: 255, count: channels * size * size)
        for level: Int8 in [63, -63] {
            let weights = [Int8](repeating: level, count: out * channels * 9)
            let r = try run(input: input, inputType: .u8, weights: weights, channels: channels, outChannels: out, size: size, bits: 7)
            let (error, at) = worst(r)
            XCTAssertEqual(error, 0, "weights \(level): element \(at) is \(r.got[at]), the exact sum is \(r.expected[at])")
        }
    }

    /// With 8-bit weights (127) the same worst case overflows the 16-bit pair sums on CPUs
    /// without VNNI: this is what the test above would catch.
    func testEightBitWeightsSaturateWithoutVNNI() throws {
        let channels = 32, out = 8, size = 5
        let input = [Int32](repeating: 255, count: channels * size * size)
        let weights = [Int8](repeating: 127, count: out * channels * 9)
        let r = try run(input: input, inputType: .u8, weights: weights, channels: channels, outChannels: out, size: size, bits: 8)
        let (error, at) = worst(r)
        if cpuHasVNNI {
            XCTAssertEqual(error, 0, "VNNI accumulates in 32 bits: element \(at) should be exact")
        } else {
            XCTAssertGreaterThan(error, 0, "expected vpmaddubsw to saturate (2 · 255 · 127 > 32767); it did not")
            XCTAssertLessThan(Double(r.got[at]), r.expected[at], "saturation makes the sum smaller")
        }
    }

    func randomIntegers(_ count: Int, in range: ClosedRange<Int32>, seed: UInt64) -> [Int32] {
        var generator = SeededGenerator(seed: seed)
        let width = UInt64(range.upperBound - range.lowerBound + 1)
        return (0..<count).map { _ in range.lowerBound + Int32(generator.next() % width) }
    }

    /// Random u8 inputs with random 7-bit weights, dense and depthwise: exact.
    func testUnsignedInputWithSevenBitWeightsIsExact() throws {
        for (groups, channels, out) in [(1, 24, 16), (16, 16, 16)] {
            let input = randomIntegers(channels * 49, in: 0...255, seed: 1)
            let weights = randomIntegers(out * (channels / groups) * 9, in: -63...63, seed: 2).map { Int8($0) }
            let r = try run(input: input, inputType: .u8, weights: weights, channels: channels, outChannels: out, size: 7,
                            groups: groups, bits: 7)
            let (error, at) = worst(r)
            XCTAssertEqual(error, 0, "groups \(groups): element \(at) is \(r.got[at]), exact \(r.expected[at])")
        }
    }

    /// Signed (s8) input: oneDNN halves the weights without VNNI; the quantiser stores 7-bit
    /// levels as even values for such layers, which halve exactly. Dense, depthwise and 1x1
    /// (oneDNN's separate 1x1 kernel), as MobileNetV2's blocks have them.
    func testSignedInputWithEvenWeightsIsExact() throws {
        for (groups, channels, out, kernel) in [(1, 24, 16, 3), (16, 16, 16, 3), (1, 24, 96, 1), (1, 96, 24, 1)] {
            let input = randomIntegers(channels * 49, in: -128...127, seed: 3)
            let weights = randomIntegers(out * (channels / groups) * kernel * kernel, in: -63...63, seed: 4).map { Int8(2 * $0) }
            let r = try run(input: input, inputType: .i8, weights: weights, channels: channels, outChannels: out, size: 7,
                            groups: groups, kernel: kernel, bits: 7)
            let (error, at) = worst(r)
            XCTAssertEqual(error, 0, "groups \(groups): element \(at) is \(r.got[at]), exact \(r.expected[at])")
        }
    }
}
