import Foundation
import PareCore
import XCTest

/// Every reference backward kernel against central differences in Double.
///
/// Tolerances: eps 1e-6, atol 1e-6, rtol 1e-6. In Double the central difference is exact to
/// about 1e-9 here (truncation ~eps^2, round-off ~1e-16 * |L| / eps), so a wrong gradient term
/// cannot hide under them. Shapes are tiny and odd-sized so the suite stays fast in DEBUG.
final class ReferenceGradientTests: XCTestCase {
    let atol = 1e-6, rtol = 1e-6

    private func zeros(_ count: Int) -> [Double] { [Double](repeating: 0, count: count) }

    // MARK: Convolution

    private func checkConv(_ label: String, batch: Int, inChannels: Int, height: Int, width: Int,
                           _ a: Conv2dAttributes, seed: UInt64, file: StaticString = #filePath, line: UInt = #line) {
        var generator = SeededGenerator(seed: seed)
        let (outHeight, outWidth) = referenceConv2dOutputSize(height: height, width: width, attributes: a)
        XCTAssertGreaterThan(outHeight * outWidth, 0, label, file: file, line: line)
        var arguments = [
            randomArray(batch * inChannels * height * width, &generator),
            randomArray(a.outChannels * (inChannels / a.groups) * a.kernelSize[0] * a.kernelSize[1], &generator),
        ]
        if a.bias { arguments.append(randomArray(a.outChannels, &generator)) }
        let outputCount = batch * a.outChannels * outHeight * outWidth
        checkOpGradients(
            label, arguments: arguments, names: a.bias ? ["input", "weight", "bias"] : ["input", "weight"],
            atol: atol, rtol: rtol,
            forward: { args in
                var output = self.zeros(outputCount)
                referenceConv2dForward(output: &output, input: args[0], weight: args[1], bias: a.bias ? args[2] : nil,
                                       batch: batch, inChannels: inChannels, height: height, width: width, attributes: a)
                return output
            },
            backward: { args, dOutput, gradients in
                var dInput = gradients[0], dWeight = gradients[1]
                var dBias: [Double]? = a.bias ? gradients[2] : nil
                referenceConv2dBackward(dInput: &dInput, dWeight: &dWeight, dBias: &dBias, dOutput: dOutput,
                                        input: args[0], weight: args[1], batch: batch, inChannels: inChannels,
                                        height: height, width: width, attributes: a)
                gradients[0] = dInput
                gradients[1] = dWeight
                if let dBias { gradients[2] = dBias }
            }, file: file, line: line)
    }

    func testConv2dDenseWithBias() {
        checkConv("3x3 pad 1 bias", batch: 2, inChannels: 3, height: 5, width: 4,
                  Conv2dAttributes(outChannels: 4, kernelSize: [3, 3], padding: Padding2d(1), bias: true), seed: 1)
    }

    func testConv2dStride2AsymmetricPadding() {
        checkConv("stride 2, padding t1 l0 b2 r1, 3x2 kernel", batch: 2, inChannels: 2, height: 7, width: 6,
                  Conv2dAttributes(outChannels: 3, kernelSize: [3, 2], stride: [2, 2],
                                   padding: Padding2d(top: 1, left: 0, bottom: 2, right: 1), bias: true), seed: 2)
    }

    func testConv2dDilation2() {
        checkConv("dilation 2", batch: 1, inChannels: 2, height: 6, width: 7,
                  Conv2dAttributes(outChannels: 3, kernelSize: [3, 3], padding: Padding2d(2), dilation: [2, 2]), seed: 3)
    }

    func testConv2dDepthwise() {
        checkConv("depthwise (groups == channels), stride 2", batch: 2, inChannels: 4, height: 5, width: 5,
                  Conv2dAttributes(outChannels: 4, kernelSize: [3, 3], stride: [2, 2], padding: Padding2d(1), groups: 4),
                  seed: 4)
        checkConv("depthwise multiplier 2", batch: 1, inChannels: 3, height: 4, width: 5,
                  Conv2dAttributes(outChannels: 6, kernelSize: [3, 3], padding: Padding2d(1), groups: 3, bias: true),
                  seed: 5)
    }

    func testConv2dGroups2() {
        checkConv("groups 2", batch: 2, inChannels: 4, height: 3, width: 5,
                  Conv2dAttributes(outChannels: 6, kernelSize: [1, 3], padding: Padding2d(0, 1), groups: 2, bias: true),
                  seed: 6)
    }

    /// A grouped convolution feeding a channel shuffle, chained by hand: the gradient flows
    /// through the shuffle's inverse permutation into the grouped convolution.
    func testConv2dGroups2ThenChannelShuffle() {
        let batch = 2, inChannels = 4, height = 4, width = 3
        let a = Conv2dAttributes(outChannels: 6, kernelSize: [3, 3], padding: Padding2d(1), groups: 2)
        var generator = SeededGenerator(seed: 8)
        let input = randomArray(batch * inChannels * height * width, &generator)
        let weight = randomArray(6 * 2 * 9, &generator)
        let count = batch * 6 * height * width
        checkOpGradients(
            "groups 2 + channelShuffle(2)", arguments: [input, weight], names: ["input", "weight"], atol: atol, rtol: rtol,
            forward: { args in
                var convolved = self.zeros(count), shuffled = self.zeros(count)
                referenceConv2dForward(output: &convolved, input: args[0], weight: args[1], bias: nil, batch: batch,
                                       inChannels: inChannels, height: height, width: width, attributes: a)
                referenceChannelShuffleForward(output: &shuffled, input: convolved, batch: batch, channels: 6,
                                               spatial: height * width, groups: 2)
                return shuffled
            },
            backward: { args, dOutput, gradients in
                var convolved = self.zeros(count), dConvolved = self.zeros(count)
                referenceConv2dForward(output: &convolved, input: args[0], weight: args[1], bias: nil, batch: batch,
                                       inChannels: inChannels, height: height, width: width, attributes: a)
                referenceChannelShuffleBackward(dInput: &dConvolved, dOutput: dOutput, batch: batch, channels: 6,
                                                spatial: height * width, groups: 2)
                var dInput = gradients[0], dWeight = gradients[1], dBias: [Double]? = nil
                referenceConv2dBackward(dInput: &dInput, dWeight: &dWeight, dBias: &dBias, dOutput: dConvolved,
                                        input: args[0], weight: args[1], batch: batch, inChannels: inChannels,
                                        height: height, width: width, attributes: a)
                gradients[0] = dInput
                gradients[1] = dWeight
            })
    }

    // MARK: Batch norm

    private func checkBatchNormTraining(_ label: String, batch: Int, channels: Int, spatial: Int, seed: UInt64) {
        var generator = SeededGenerator(seed: seed)
        let count = batch * channels * spatial
        let input = randomArray(count, &generator, in: -2...3)
        let weight = randomArray(channels, &generator, in: 0.5...1.5)
        let bias = randomArray(channels, &generator)
        func forward(_ args: [[Double]]) -> (output: [Double], mean: [Double], invstd: [Double]) {
            var output = zeros(count), mean = zeros(channels), invstd = zeros(channels)
            var runningMean = zeros(channels), runningVariance = [Double](repeating: 1, count: channels)
            referenceBatchNormTrainingForward(output: &output, mean: &mean, invstd: &invstd, runningMean: &runningMean,
                                              runningVariance: &runningVariance, input: args[0], weight: args[1],
                                              bias: args[2], batch: batch, channels: channels, spatial: spatial,
                                              eps: 1e-5, momentum: 0.1)
            return (output, mean, invstd)
        }
        checkOpGradients(
            label, arguments: [input, weight, bias], names: ["input", "weight", "bias"], atol: atol, rtol: rtol,
            forward: { forward($0).output },
            backward: { args, dOutput, gradients in
                let saved = forward(args)
                var dInput = gradients[0], dWeight = gradients[1], dBias = gradients[2]
                referenceBatchNormBackward(dInput: &dInput, dWeight: &dWeight, dBias: &dBias, dOutput: dOutput,
                                           input: args[0], weight: args[1], mean: saved.mean, invstd: saved.invstd,
                                           batch: batch, channels: channels, spatial: spatial)
                gradients = [dInput, dWeight, dBias]
            })
    }

    func testBatchNormTrainingImage() {
        checkBatchNormTraining("batchNorm [3, 2, 3, 2]", batch: 3, channels: 2, spatial: 3 * 2, seed: 21)
    }

    func testBatchNormTrainingFlat() {
        checkBatchNormTraining("batchNorm [5, 3]", batch: 5, channels: 3, spatial: 1, seed: 22)
    }

    // MARK: Activations

    private typealias Unary = (_ output: inout [Double], _ input: [Double]) -> Void

    private func checkUnary(_ label: String, count: Int = 60, range: ClosedRange<Double>, seed: UInt64,
                            forward kernel: @escaping Unary,
                            backward: @escaping (_ dInput: inout [Double], _ dOutput: [Double], _ input: [Double], _ output: [Double]) -> Void) {
        var generator = SeededGenerator(seed: seed)
        let input = randomArray(count, &generator, in: range)
        func forward(_ args: [[Double]]) -> [Double] {
            var output = zeros(count)
            kernel(&output, args[0])
            return output
        }
        checkOpGradients(label, arguments: [input], names: ["input"], atol: atol, rtol: rtol, forward: forward,
                         backward: { args, dOutput, gradients in
                             backward(&gradients[0], dOutput, args[0], forward(args))
                         })
    }

    func testActivationGradients() {
        checkUnary("relu", range: -1...1, seed: 31,
                   forward: { referenceReluForward(output: &$0, input: $1) },
                   backward: { referenceReluBackward(dInput: &$0, dOutput: $1, input: $2); _ = $3 })
        checkUnary("relu6", range: -2...8, seed: 32,
                   forward: { referenceRelu6Forward(output: &$0, input: $1) },
                   backward: { referenceRelu6Backward(dInput: &$0, dOutput: $1, input: $2); _ = $3 })
        checkUnary("hardSwish", range: -5...5, seed: 33,
                   forward: { referenceHardSwishForward(output: &$0, input: $1) },
                   backward: { referenceHardSwishBackward(dInput: &$0, dOutput: $1, input: $2); _ = $3 })
        checkUnary("sigmoid", range: -4...4, seed: 34,
                   forward: { referenceSigmoidForward(output: &$0, input: $1) },
                   backward: { referenceSigmoidBackward(dInput: &$0, dOutput: $1, output: $3); _ = $2 })
        checkUnary("leakyRelu 0.1", range: -2...2, seed: 35,
                   forward: { referenceLeakyReluForward(output: &$0, input: $1, negativeSlope: 0.1) },
                   backward: { referenceLeakyReluBackward(dInput: &$0, dOutput: $1, input: $2, negativeSlope: 0.1); _ = $3 })
        checkUnary("elu 0.7", range: -3...2, seed: 36,
                   forward: { referenceEluForward(output: &$0, input: $1, alpha: 0.7) },
                   backward: { referenceEluBackward(dInput: &$0, dOutput: $1, input: $2, alpha: 0.7); _ = $3 })
        checkUnary("tanh", range: -3...3, seed: 37,
                   forward: { referenceTanhForward(output: &$0, input: $1) },
                   backward: { referenceTanhBackward(dInput: &$0, dOutput: $1, output: $3); _ = $2 })
        checkUnary("silu", range: -6...6, seed: 38,
                   forward: { referenceSiluForward(output: &$0, input: $1) },
                   backward: { referenceSiluBackward(dInput: &$0, dOutput: $1, input: $2); _ = $3 })
        checkUnary("hardSigmoid", range: -5...5, seed: 39,
                   forward: { referenceHardSigmoidForward(output: &$0, input: $1) },
                   backward: { referenceHardSigmoidBackward(dInput: &$0, dOutput: $1, input: $2); _ = $3 })
    }

    /// PyTorch's values at the kinks, where a central difference cannot decide: leaky ReLU
    /// takes the slope at 0, ELU alpha at 0, hard sigmoid 0 at ±3.
    func testActivationGradientsAtKinks() {
        var d = zeros(1)
        referenceLeakyReluBackward(dInput: &d, dOutput: [1], input: [0], negativeSlope: 0.1)
        XCTAssertEqual(d[0], 0.1)
        d = zeros(1)
        referenceEluBackward(dInput: &d, dOutput: [1], input: [0], alpha: 0.7)
        XCTAssertEqual(d[0], 0.7, accuracy: 1e-15)
        d = zeros(2)
        referenceHardSigmoidBackward(dInput: &d, dOutput: [1, 1], input: [-3, 3])
        XCTAssertEqual(d, [0, 0])
        var y = zeros(4)
        referenceHardSigmoidForward(output: &y, input: [-4, -3, 0, 3.5])
        XCTAssertEqual(y, [0, 0, 0.5, 1])
        referenceSiluForward(output: &y, input: [0, 1, -1, 20])
        XCTAssertEqual(y[0], 0)
        XCTAssertEqual(y[1], 1 / (1 + exp(-1.0)), accuracy: 1e-15)
        XCTAssertEqual(y[2], -1 / (1 + exp(1.0)), accuracy: 1e-15)
        XCTAssertEqual(y[3], 20, accuracy: 1e-6)
    }

    func testLocalResponseNormGradients() {
        for (channels, a) in [(5, LRNAttributes(size: 3, alpha: 0.8, beta: 0.75, k: 1.5)),
                              (4, LRNAttributes(size: 5, alpha: 2, beta: 1.3, k: 0.7)),
                              (3, LRNAttributes(size: 1, alpha: 0.5, beta: 0.5, k: 1))] {
            let batch = 2, spatial = 3
            var generator = SeededGenerator(seed: 71 + UInt64(a.size))
            checkOpGradients(
                "lrn size \(a.size) on \(channels) channels", arguments: [randomArray(batch * channels * spatial, &generator)],
                names: ["input"], atol: atol, rtol: rtol,
                forward: { args in
                    var output = self.zeros(batch * channels * spatial)
                    referenceLRNForward(output: &output, input: args[0], batch: batch, channels: channels, spatial: spatial,
                                        attributes: a)
                    return output
                },
                backward: { args, dOutput, gradients in
                    referenceLRNBackward(dInput: &gradients[0], dOutput: dOutput, input: args[0], batch: batch,
                                         channels: channels, spatial: spatial, attributes: a)
                })
        }
    }

    /// PyTorch's LocalResponseNorm on one pixel of 4 channels, size 3: the window of channel
    /// 0 is channels 0 and 1 (clipped), of channel 1 channels 0 ... 2; alpha is divided by 3.
    func testLocalResponseNormValues() {
        let x: [Double] = [1, 2, 3, 4]
        var y = zeros(4)
        let a = LRNAttributes(size: 3, alpha: 0.3, beta: 0.5, k: 2)
        referenceLRNForward(output: &y, input: x, batch: 1, channels: 4, spatial: 1, attributes: a)
        let expected = [1.0 / (2 + 0.1 * 5).squareRoot(), 2 / (2 + 0.1 * 14).squareRoot(),
                        3 / (2 + 0.1 * 29).squareRoot(), 4 / (2 + 0.1 * 25).squareRoot()]
        for k in 0..<4 { XCTAssertEqual(y[k], expected[k], accuracy: 1e-12, "lrn channel \(k)") }
    }

    func testPaddingGradientsAndValues() {
        let planes = 2, height = 3, width = 4
        for mode in PaddingMode.allCases {
            let a = PadAttributes(padding: Padding2d(top: 2, left: 1, bottom: 1, right: 3), mode: mode)
            var generator = SeededGenerator(seed: mode == .reflect ? 81 : 82)
            let outCount = planes * (height + 3) * (width + 4)
            checkOpGradients(
                "pad \(mode)", arguments: [randomArray(planes * height * width, &generator)], names: ["input"],
                atol: atol, rtol: rtol,
                forward: { args in
                    var output = self.zeros(outCount)
                    referencePadForward(output: &output, input: args[0], planes: planes, height: height, width: width,
                                        attributes: a)
                    return output
                },
                backward: { _, dOutput, gradients in
                    referencePadBackward(dInput: &gradients[0], dOutput: dOutput, planes: planes, height: height, width: width,
                                         attributes: a)
                })
        }
        // One row [1 2 3] padded by 2 left and 1 right: reflect 3 2 | 1 2 3 | 2, replicate 1 1 | 1 2 3 | 3.
        var row = zeros(6)
        referencePadForward(output: &row, input: [1, 2, 3], planes: 1, height: 1, width: 3,
                            attributes: PadAttributes(padding: Padding2d(top: 0, left: 2, bottom: 0, right: 1), mode: .reflect))
        XCTAssertEqual(row, [3, 2, 1, 2, 3, 2])
        referencePadForward(output: &row, input: [1, 2, 3], planes: 1, height: 1, width: 3,
                            attributes: PadAttributes(padding: Padding2d(top: 0, left: 2, bottom: 0, right: 1), mode: .replicate))
        XCTAssertEqual(row, [1, 1, 1, 2, 3, 3])
    }

    func testPReLUGradients() {
        // Per channel ([C] slopes) on [N, C, H*W] and one shared slope on flat [N, F].
        for (channels, spatial, slopes) in [(3, 4, 3), (5, 1, 1)] {
            let batch = 2
            var generator = SeededGenerator(seed: 61 + UInt64(slopes))
            let arguments = [randomArray(batch * channels * spatial, &generator), randomArray(slopes, &generator)]
            checkOpGradients(
                "prelu \(slopes) slope(s)", arguments: arguments, names: ["input", "weight"], atol: atol, rtol: rtol,
                forward: { args in
                    var output = self.zeros(batch * channels * spatial)
                    referencePReLUForward(output: &output, input: args[0], weight: args[1], batch: batch, channels: channels,
                                          spatial: spatial)
                    return output
                },
                backward: { args, dOutput, gradients in
                    var dInput = gradients[0], dWeight = gradients[1]
                    referencePReLUBackward(dInput: &dInput, dWeight: &dWeight, dOutput: dOutput, input: args[0],
                                           weight: args[1], batch: batch, channels: channels, spatial: spatial)
                    gradients = [dInput, dWeight]
                })
        }
    }

    func testMulGradients() {
        // Same shape, and a [C, 1, 1] gate broadcast over H*W = 6.
        for rhsSpatial in [6, 1] {
            let batch = 2, channels = 3, spatial = 6
            var generator = SeededGenerator(seed: 63 + UInt64(rhsSpatial))
            let arguments = [randomArray(batch * channels * spatial, &generator),
                             randomArray(batch * channels * rhsSpatial, &generator)]
            checkOpGradients(
                "mul rhs spatial \(rhsSpatial)", arguments: arguments, names: ["lhs", "rhs"], atol: atol, rtol: rtol,
                forward: { args in
                    var output = self.zeros(batch * channels * spatial)
                    referenceMulForward(output: &output, lhs: args[0], rhs: args[1], batch: batch, channels: channels,
                                        spatial: spatial, rhsSpatial: rhsSpatial)
                    return output
                },
                backward: { args, dOutput, gradients in
                    var dLhs = gradients[0], dRhs = gradients[1]
                    referenceMulBackward(dLhs: &dLhs, dRhs: &dRhs, dOutput: dOutput, lhs: args[0], rhs: args[1],
                                         batch: batch, channels: channels, spatial: spatial, rhsSpatial: rhsSpatial)
                    gradients = [dLhs, dRhs]
                })
        }
    }

    // MARK: Pooling

    private func checkPool(_ label: String, max: Bool, batch: Int, channels: Int, height: Int, width: Int,
                           _ a: Pool2dAttributes, seed: UInt64, file: StaticString = #filePath, line: UInt = #line) {
        var generator = SeededGenerator(seed: seed)
        let (outHeight, outWidth) = referencePool2dOutputSize(height: height, width: width, attributes: a)
        let input = randomArray(batch * channels * height * width, &generator)
        checkOpGradients(
            label, arguments: [input], names: ["input"], atol: atol, rtol: rtol,
            forward: { args in
                var output = self.zeros(batch * channels * outHeight * outWidth)
                if max {
                    referenceMaxPool2dForward(output: &output, input: args[0], batch: batch, channels: channels,
                                              height: height, width: width, attributes: a)
                } else {
                    referenceAvgPool2dForward(output: &output, input: args[0], batch: batch, channels: channels,
                                              height: height, width: width, attributes: a)
                }
                return output
            },
            backward: { args, dOutput, gradients in
                if max {
                    referenceMaxPool2dBackward(dInput: &gradients[0], dOutput: dOutput, input: args[0], batch: batch,
                                               channels: channels, height: height, width: width, attributes: a)
                } else {
                    referenceAvgPool2dBackward(dInput: &gradients[0], dOutput: dOutput, batch: batch,
                                               channels: channels, height: height, width: width, attributes: a)
                }
            }, file: file, line: line)
    }

    func testMaxPoolGradients() {
        checkPool("maxPool 3x3 s2 p1", max: true, batch: 2, channels: 2, height: 5, width: 6,
                  Pool2dAttributes(kernelSize: [3, 3], stride: [2, 2], padding: Padding2d(1)), seed: 41)
        checkPool("maxPool 2x2 s2 ceil", max: true, batch: 1, channels: 3, height: 5, width: 5,
                  Pool2dAttributes(kernelSize: [2, 2], ceilMode: true), seed: 42)
        checkPool("maxPool 3x3 s2 p1 ceil", max: true, batch: 2, channels: 1, height: 6, width: 7,
                  Pool2dAttributes(kernelSize: [3, 3], stride: [2, 2], padding: Padding2d(1), ceilMode: true), seed: 43)
    }

    func testAvgPoolGradients() {
        checkPool("avgPool 3x3 s2 p1 count_include_pad false, ceil", max: false, batch: 2, channels: 2, height: 6, width: 5,
                  Pool2dAttributes(kernelSize: [3, 3], stride: [2, 2], padding: Padding2d(1), ceilMode: true,
                                   countIncludePad: false), seed: 44)
        checkPool("avgPool 3x3 s2 p1 count_include_pad true, ceil", max: false, batch: 1, channels: 2, height: 6, width: 5,
                  Pool2dAttributes(kernelSize: [3, 3], stride: [2, 2], padding: Padding2d(1), ceilMode: true), seed: 45)
        checkPool("avgPool 2x2 s1", max: false, batch: 2, channels: 1, height: 3, width: 4,
                  Pool2dAttributes(kernelSize: [2, 2], stride: [1, 1]), seed: 46)
    }

    func testGlobalAvgPoolGradient() {
        var generator = SeededGenerator(seed: 47)
        let input = randomArray(2 * 3 * 5, &generator)
        checkOpGradients("globalAvgPool", arguments: [input], names: ["input"], atol: atol, rtol: rtol,
                         forward: { args in
                             var output = self.zeros(6)
                             referenceGlobalAvgPoolForward(output: &output, input: args[0], batch: 2, channels: 3, spatial: 5)
                             return output
                         },
                         backward: { _, dOutput, gradients in
                             referenceGlobalAvgPoolBackward(dInput: &gradients[0], dOutput: dOutput, batch: 2, channels: 3, spatial: 5)
                         })
    }

    // MARK: Linear, add, concat, shuffle, flatten, dropout, softmax

    func testLinearGradients() {
        for hasBias in [true, false] {
            var generator = SeededGenerator(seed: hasBias ? 51 : 52)
            let batch = 3, inFeatures = 5, outFeatures = 4
            var arguments = [randomArray(batch * inFeatures, &generator), randomArray(outFeatures * inFeatures, &generator)]
            if hasBias { arguments.append(randomArray(outFeatures, &generator)) }
            checkOpGradients(
                "linear bias \(hasBias)", arguments: arguments,
                names: hasBias ? ["input", "weight", "bias"] : ["input", "weight"], atol: atol, rtol: rtol,
                forward: { args in
                    var output = self.zeros(batch * outFeatures)
                    referenceLinearForward(output: &output, input: args[0], weight: args[1], bias: hasBias ? args[2] : nil,
                                           batch: batch, inFeatures: inFeatures, outFeatures: outFeatures)
                    return output
                },
                backward: { args, dOutput, gradients in
                    var dInput = gradients[0], dWeight = gradients[1], dBias: [Double]? = hasBias ? gradients[2] : nil
                    referenceLinearBackward(dInput: &dInput, dWeight: &dWeight, dBias: &dBias, dOutput: dOutput,
                                            input: args[0], weight: args[1], batch: batch, inFeatures: inFeatures,
                                            outFeatures: outFeatures)
                    gradients[0] = dInput
                    gradients[1] = dWeight
                    if let dBias { gradients[2] = dBias }
                })
        }
    }

    func testAddGradients() {
        var generator = SeededGenerator(seed: 53)
        checkOpGradients("add", arguments: [randomArray(24, &generator), randomArray(24, &generator)],
                         names: ["lhs", "rhs"], atol: atol, rtol: rtol,
                         forward: { args in
                             var output = self.zeros(24)
                             referenceAddForward(output: &output, lhs: args[0], rhs: args[1])
                             return output
                         },
                         backward: { _, dOutput, gradients in
                             var dLhs = gradients[0], dRhs = gradients[1]
                             referenceAddBackward(dLhs: &dLhs, dRhs: &dRhs, dOutput: dOutput)
                             gradients = [dLhs, dRhs]
                         })
    }

    func testConcatGradients() {
        // [N, C, H, W] images (inner = H * W = 6) and flat [N, C] features (inner = 1).
        for (channels, inner) in [([1, 3, 2], 6), ([2, 4], 1)] {
            let batch = 2
            var generator = SeededGenerator(seed: 54 + UInt64(inner))
            let arguments = channels.map { randomArray(batch * $0 * inner, &generator) }
            checkOpGradients(
                "concat \(channels) inner \(inner)", arguments: arguments, names: channels.indices.map { "input\($0)" },
                atol: atol, rtol: rtol,
                forward: { args in
                    var output = self.zeros(batch * channels.reduce(0, +) * inner)
                    referenceConcatForward(output: &output, inputs: args, channels: channels, batch: batch, inner: inner)
                    return output
                },
                backward: { _, dOutput, gradients in
                    referenceConcatBackward(dInputs: &gradients, dOutput: dOutput, channels: channels, batch: batch, inner: inner)
                })
        }
    }

    func testChannelShuffleGradients() {
        for groups in [2, 3] {
            var generator = SeededGenerator(seed: 60 + UInt64(groups))
            let batch = 2, channels = 6, spatial = 4
            checkOpGradients(
                "channelShuffle groups \(groups)", arguments: [randomArray(batch * channels * spatial, &generator)],
                names: ["input"], atol: atol, rtol: rtol,
                forward: { args in
                    var output = self.zeros(batch * channels * spatial)
                    referenceChannelShuffleForward(output: &output, input: args[0], batch: batch, channels: channels,
                                                   spatial: spatial, groups: groups)
                    return output
                },
                backward: { _, dOutput, gradients in
                    referenceChannelShuffleBackward(dInput: &gradients[0], dOutput: dOutput, batch: batch,
                                                    channels: channels, spatial: spatial, groups: groups)
                })
        }
    }

    func testChannelSliceGradients() {
        for (start, count) in [(0, 2), (2, 3), (1, 4)] {
            var generator = SeededGenerator(seed: 70 + UInt64(start))
            let batch = 2, channels = 5, spatial = 3
            checkOpGradients(
                "channelSlice \(start)..<\(start + count)", arguments: [randomArray(batch * channels * spatial, &generator)],
                names: ["input"], atol: atol, rtol: rtol,
                forward: { args in
                    var output = self.zeros(batch * count * spatial)
                    referenceChannelSliceForward(output: &output, input: args[0], batch: batch, channels: channels,
                                                 spatial: spatial, start: start, count: count)
                    return output
                },
                backward: { _, dOutput, gradients in
                    referenceChannelSliceBackward(dInput: &gradients[0], dOutput: dOutput, batch: batch,
                                                  channels: channels, spatial: spatial, start: start, count: count)
                })
        }
    }

    func testFlattenGradients() {
        var generator = SeededGenerator(seed: 64)
        checkOpGradients("flatten", arguments: [randomArray(30, &generator)], names: ["input"], atol: atol, rtol: rtol,
                         forward: { args in
                             var output = self.zeros(30)
                             referenceFlattenForward(output: &output, input: args[0])
                             return output
                         },
                         backward: { _, dOutput, gradients in
                             referenceFlattenBackward(dInput: &gradients[0], dOutput: dOutput)
                         })
    }

    func testDropoutGradients() {
        var generator = SeededGenerator(seed: 65)
        let p = 0.3
        let mask: [Double] = referenceDropoutMask(count: 40, p: p, generator: &generator)
        XCTAssertTrue(mask.contains(0) && mask.contains(1), "a 40-element mask at p 0.3 should drop some and keep some")
        checkOpGradients("dropout p 0.3", arguments: [randomArray(40, &generator)], names: ["input"], atol: atol, rtol: rtol,
                         forward: { args in
                             var output = self.zeros(40)
                             referenceDropoutForward(output: &output, input: args[0], mask: mask, p: p)
                             return output
                         },
                         backward: { _, dOutput, gradients in
                             referenceDropoutBackward(dInput: &gradients[0], dOutput: dOutput, mask: mask, p: p)
                         })
    }

    func testSoftmaxGradients() {
        var generator = SeededGenerator(seed: 66)
        let batch = 3, features = 5
        checkOpGradients("softmax", arguments: [randomArray(batch * features, &generator, in: -3...3)], names: ["input"],
                         atol: atol, rtol: rtol,
                         forward: { args in
                             var output = self.zeros(batch * features)
                             referenceSoftmaxForward(output: &output, input: args[0], batch: batch, features: features)
                             return output
                         },
                         backward: { args, dOutput, gradients in
                             var output = self.zeros(batch * features)
                             referenceSoftmaxForward(output: &output, input: args[0], batch: batch, features: features)
                             referenceSoftmaxBackward(dInput: &gradients[0], dOutput: dOutput, output: output,
                                                      batch: batch, features: features)
                         })
    }
}
