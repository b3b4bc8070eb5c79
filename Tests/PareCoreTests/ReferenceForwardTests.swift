import PareCore
import XCTest

/// Reference forward kernels against numbers worked out by hand (in the comments), so the
/// forward passes are proven independently of the gradient checks (which assume them).
final class ReferenceForwardTests: XCTestCase {
    private func zeros(_ count: Int) -> [Double] { [Double](repeating: 0, count: count) }
    /// 0, 1, 2, ... in row-major order.
    private func iota(_ count: Int) -> [Double] { (0..<count).map(Double.init) }

    // MARK: Convolution

    func testConv2dSingleChannel3x3() {
        // x = [[1,2,3],[4,5,6],[7,8,9]], a Sobel-like kernel (cross-correlation, as PyTorch).
        let input: [Double] = [1, 2, 3, 4, 5, 6, 7, 8, 9]
        let weight: [Double] = [1, 0, -1, 2, 0, -2, 1, 0, -1]
        // No padding: 1 - 3 + 2*4 - 2*6 + 7 - 9 = -8, plus bias 0.5.
        var valid = zeros(1)
        referenceConv2dForward(output: &valid, input: input, weight: weight, bias: [0.5], batch: 1, inChannels: 1,
                               height: 3, width: 3, attributes: Conv2dAttributes(outChannels: 1, kernelSize: [3, 3], bias: true))
        assertClose(valid, [-7.5], atol: 0, rtol: 0, "conv 3x3 valid")
        // Padding 1: each output is sum over rows of [1,2,1]-weighted (left - right) neighbours.
        var padded = zeros(9)
        referenceConv2dForward(output: &padded, input: input, weight: weight, bias: nil, batch: 1, inChannels: 1,
                               height: 3, width: 3,
                               attributes: Conv2dAttributes(outChannels: 1, kernelSize: [3, 3], padding: Padding2d(1)))
        assertClose(padded, [-9, -6, 9, -20, -8, 20, -21, -6, 21], atol: 0, rtol: 0, "conv 3x3 padding 1")
    }

    func testConv2dStride2AsymmetricPadding() {
        // 3x3 input 1...9, 2x2 ones kernel, stride 2, one zero row on top and one zero column
        // on the right: windows rows {-1,0},{1,2} x columns {0,1},{2,3}.
        var output = zeros(4)
        let a = Conv2dAttributes(outChannels: 1, kernelSize: [2, 2], stride: [2, 2],
                                 padding: Padding2d(top: 1, left: 0, bottom: 0, right: 1))
        XCTAssertEqual(referenceConv2dOutputSize(height: 3, width: 3, attributes: a).height, 2)
        referenceConv2dForward(output: &output, input: [1, 2, 3, 4, 5, 6, 7, 8, 9], weight: [1, 1, 1, 1], bias: nil,
                               batch: 1, inChannels: 1, height: 3, width: 3, attributes: a)
        // [1 + 2, 3 + 0, 4 + 5 + 7 + 8, 6 + 9]
        assertClose(output, [3, 3, 24, 15], atol: 0, rtol: 0, "conv stride 2 asymmetric padding")
    }

    func testConv2dDilation2() {
        // x[i][j] = 5i + j on 5x5; a 2x2 ones kernel with dilation 2 sums x at (i,j), (i,j+2),
        // (i+2,j), (i+2,j+2): 4(5i + j) + 24.
        var output = zeros(9)
        referenceConv2dForward(output: &output, input: iota(25), weight: [1, 1, 1, 1], bias: nil, batch: 1, inChannels: 1,
                               height: 5, width: 5,
                               attributes: Conv2dAttributes(outChannels: 1, kernelSize: [2, 2], dilation: [2, 2]))
        let expected: [Double] = [24, 28, 32, 44, 48, 52, 64, 68, 72]
        assertClose(output, expected, atol: 0, rtol: 0, "conv dilation 2")
    }

    func testConv2dGroupsAndDepthwise() {
        // 4 constant channels 1, 10, 100, 1000 over a 1x2 plane; 1x1 kernel, groups 2:
        // output 0 sees channels 0,1 (1*1 + 2*10), output 1 sees channels 2,3 (3*100 + 4*1000).
        let input: [Double] = [1, 1, 10, 10, 100, 100, 1000, 1000]
        var grouped = zeros(4)
        referenceConv2dForward(output: &grouped, input: input, weight: [1, 2, 3, 4], bias: nil, batch: 1, inChannels: 4,
                               height: 1, width: 2,
                               attributes: Conv2dAttributes(outChannels: 2, kernelSize: [1, 1], groups: 2))
        assertClose(grouped, [21, 21, 4300, 4300], atol: 0, rtol: 0, "conv groups 2")
        // Depthwise: each channel scaled by its own weight.
        var depthwise = zeros(8)
        referenceConv2dForward(output: &depthwise, input: input, weight: [2, 3, 4, 5], bias: [0, 0, 0, 1], batch: 1,
                               inChannels: 4, height: 1, width: 2,
                               attributes: Conv2dAttributes(outChannels: 4, kernelSize: [1, 1], groups: 4, bias: true))
        assertClose(depthwise, [2, 2, 30, 30, 400, 400, 5001, 5001], atol: 0, rtol: 0, "conv depthwise")
    }

    // MARK: Batch norm

    func testBatchNormTrainingKnownValues() {
        // [N=2, C=2, H=1, W=2]. Channel 0 holds 1,2 | 3,4: mean 2.5, biased variance 1.25,
        // unbiased 5/3. Channel 1 holds 0,0 | 4,4: mean 2, biased variance 4, unbiased 16/3.
        let input: [Double] = [1, 2, 0, 0, 3, 4, 4, 4]
        var output = zeros(8), mean = zeros(2), invstd = zeros(2)
        var runningMean: [Double] = [0, 0], runningVariance: [Double] = [1, 1]
        referenceBatchNormTrainingForward(output: &output, mean: &mean, invstd: &invstd, runningMean: &runningMean,
                                          runningVariance: &runningVariance, input: input, weight: [1, 2], bias: [0, 1],
                                          batch: 2, channels: 2, spatial: 2, eps: 0, momentum: 0.1)
        let s = 1.25.squareRoot()
        // Channel 1: (x - 2) / 2 * 2 + 1.
        assertClose(output, [-1.5 / s, -0.5 / s, -1, -1, 0.5 / s, 1.5 / s, 3, 3], atol: 1e-15, rtol: 1e-15, "bn output")
        assertClose(mean, [2.5, 2], atol: 0, rtol: 0, "bn batch mean")
        assertClose(invstd, [1 / s, 0.5], atol: 1e-15, rtol: 1e-15, "bn batch invstd")
        // running = 0.9 * running + 0.1 * batch statistic (variance unbiased).
        assertClose(runningMean, [0.25, 0.2], atol: 1e-15, rtol: 1e-15, "bn running mean")
        assertClose(runningVariance, [0.9 + 0.1 * 5 / 3, 0.9 + 0.1 * 16 / 3], atol: 1e-15, rtol: 1e-15, "bn running var")
    }

    func testBatchNormInferenceUsesRunningStatistics() {
        // [N=2, C=2]: (x - runningMean) / sqrt(runningVariance) * weight + bias, eps 0.
        var output = zeros(4)
        referenceBatchNormInferenceForward(output: &output, input: [3, 5, -1, 2], weight: [1, 2], bias: [0, 1],
                                           runningMean: [1, 2], runningVariance: [4, 1], batch: 2, channels: 2,
                                           spatial: 1, eps: 0)
        assertClose(output, [1, 7, -1, 1], atol: 0, rtol: 0, "bn inference")
    }

    // MARK: Activations

    func testActivationValuesAndKinkGradients() {
        func run(_ forward: (inout [Double], [Double]) -> Void, _ backward: (inout [Double], [Double], [Double]) -> Void,
                 _ x: [Double]) -> (y: [Double], dx: [Double]) {
            var y = zeros(x.count), dx = zeros(x.count)
            forward(&y, x)
            backward(&dx, [Double](repeating: 1, count: x.count), x)
            return (y, dx)
        }
        let relu = run({ referenceReluForward(output: &$0, input: $1) },
                       { referenceReluBackward(dInput: &$0, dOutput: $1, input: $2) }, [-1, 0, 2])
        assertClose(relu.y, [0, 0, 2], atol: 0, rtol: 0, "relu")
        assertClose(relu.dx, [0, 0, 1], atol: 0, rtol: 0, "relu gradient (0 at 0)")
        let relu6 = run({ referenceRelu6Forward(output: &$0, input: $1) },
                        { referenceRelu6Backward(dInput: &$0, dOutput: $1, input: $2) }, [-1, 0, 3, 6, 7])
        assertClose(relu6.y, [0, 0, 3, 6, 6], atol: 0, rtol: 0, "relu6")
        assertClose(relu6.dx, [0, 0, 1, 0, 0], atol: 0, rtol: 0, "relu6 gradient (0 at 0 and 6)")
        let hardSwish = run({ referenceHardSwishForward(output: &$0, input: $1) },
                            { referenceHardSwishBackward(dInput: &$0, dOutput: $1, input: $2) }, [-4, -3, -1, 0, 1, 3, 4])
        assertClose(hardSwish.y, [0, 0, -1.0 / 3, 0, 2.0 / 3, 3, 4], atol: 1e-15, rtol: 0, "hardSwish")
        // PyTorch: 0 below -3, x/3 + 1/2 on [-3, 3] (both ends included), 1 above 3.
        assertClose(hardSwish.dx, [0, -0.5, 1.0 / 6, 0.5, 5.0 / 6, 1.5, 1], atol: 1e-15, rtol: 0, "hardSwish gradient")
        var sigmoid = zeros(2)
        referenceSigmoidForward(output: &sigmoid, input: [0, 1.0986122886681098])  // ln 3: 1 / (1 + 1/3)
        assertClose(sigmoid, [0.5, 0.75], atol: 1e-15, rtol: 0, "sigmoid")
        var dSigmoid = zeros(2)
        referenceSigmoidBackward(dInput: &dSigmoid, dOutput: [1, 1], output: sigmoid)
        assertClose(dSigmoid, [0.25, 0.1875], atol: 1e-15, rtol: 0, "sigmoid gradient")
    }

    // MARK: Pooling

    func testMaxPoolCeilMode() {
        // 5x5 input 0...24, 2x2 windows, stride 2, ceil mode: 3x3 output, the last row and
        // column of windows hold one input row/column.
        let a = Pool2dAttributes(kernelSize: [2, 2], ceilMode: true)
        XCTAssertEqual(try Op.maxPool(a).outputShape(inputs: [[1, 5, 5]]).get(), [1, 3, 3])
        var output = zeros(9)
        referenceMaxPool2dForward(output: &output, input: iota(25), batch: 1, channels: 1, height: 5, width: 5, attributes: a)
        assertClose(output, [6, 8, 9, 16, 18, 19, 21, 23, 24], atol: 0, rtol: 0, "maxPool ceil")
        // 4x4 input 0...15, 3x3 windows, stride 2, padding 1, ceil: rows {0,1}, {1,2,3}, {3}.
        var padded = zeros(9)
        referenceMaxPool2dForward(output: &padded, input: iota(16), batch: 1, channels: 1, height: 4, width: 4,
                                  attributes: Pool2dAttributes(kernelSize: [3, 3], stride: [2, 2], padding: Padding2d(1),
                                                               ceilMode: true))
        assertClose(padded, [5, 7, 7, 13, 15, 15, 13, 15, 15], atol: 0, rtol: 0, "maxPool padding 1 ceil")
    }

    func testMaxPoolTiesAndNaN() {
        // First maximum in row-major order takes the gradient (PyTorch: strictly greater wins).
        let a = Pool2dAttributes(kernelSize: [2, 2])
        for (input, expected) in [([0.0, 3, 3, 1], [0.0, 1, 0, 0]), ([2.0, 2, 2, 2], [1.0, 0, 0, 0]),
                                  ([1.0, .nan, 5, 2], [0.0, 1, 0, 0])] {
            var dInput = zeros(4)
            referenceMaxPool2dBackward(dInput: &dInput, dOutput: [1], input: input, batch: 1, channels: 1,
                                       height: 2, width: 2, attributes: a)
            assertClose(dInput, expected, atol: 0, rtol: 0, "maxPool argmax of \(input)")
        }
        var output = zeros(1)
        referenceMaxPool2dForward(output: &output, input: [1, .nan, 5, 2], batch: 1, channels: 1, height: 2, width: 2,
                                  attributes: a)
        XCTAssertTrue(output[0].isNaN, "NaN propagates through max pooling")
    }

    func testAvgPoolCeilModeDivisors() {
        // 5x5 input 0...24, 2x2 windows, stride 2, ceil, no padding: windows running past the
        // input are divided by the positions they cover (padded edge == input edge).
        var output = zeros(9)
        referenceAvgPool2dForward(output: &output, input: iota(25), batch: 1, channels: 1, height: 5, width: 5,
                                  attributes: Pool2dAttributes(kernelSize: [2, 2], ceilMode: true))
        assertClose(output, [3, 5, 6.5, 13, 15, 16.5, 20.5, 22.5, 24], atol: 1e-15, rtol: 0, "avgPool ceil")

        // 4x4 input 0...15 (x = 4r + c), 3x3 windows, stride 2, padding 1, ceil. Input rows
        // covered: {0,1}, {1,2,3}, {3}; rows counted with padding: 3, 3, 2 (the last window
        // stops at the padded edge, row 4). Sums: 10 24 10 / 51 90 33 / 25 42 15.
        let sums: [Double] = [10, 24, 10, 51, 90, 33, 25, 42, 15]
        let padded: [Double] = [9, 9, 6, 9, 9, 6, 6, 6, 4]
        let inputOnly: [Double] = [4, 6, 2, 6, 9, 3, 2, 3, 1]
        for countIncludePad in [true, false] {
            var pooled = zeros(9)
            referenceAvgPool2dForward(output: &pooled, input: iota(16), batch: 1, channels: 1, height: 4, width: 4,
                                      attributes: Pool2dAttributes(kernelSize: [3, 3], stride: [2, 2], padding: Padding2d(1),
                                                                   ceilMode: true, countIncludePad: countIncludePad))
            let divisors = countIncludePad ? padded : inputOnly
            assertClose(pooled, zip(sums, divisors).map { $0 / $1 }, atol: 1e-14, rtol: 0,
                        "avgPool count_include_pad \(countIncludePad)")
        }
    }

    func testGlobalAvgPool() {
        var output = zeros(2)
        referenceGlobalAvgPoolForward(output: &output, input: [1, 2, 3, 4, 10, 20, 30, 40], batch: 1, channels: 2, spatial: 4)
        assertClose(output, [2.5, 25], atol: 0, rtol: 0, "globalAvgPool")
    }

    // MARK: Others

    func testLinear() {
        // x = [1, 2], W = [[1, 0], [0, 1], [1, 1]], b = [0.5, 0, -1].
        var output = zeros(3)
        referenceLinearForward(output: &output, input: [1, 2], weight: [1, 0, 0, 1, 1, 1], bias: [0.5, 0, -1],
                               batch: 1, inFeatures: 2, outFeatures: 3)
        assertClose(output, [1.5, 2, 2], atol: 0, rtol: 0, "linear")
    }

    func testConcatAndChannelShuffleOrder() {
        // Two [N=2] inputs with 1 and 2 channels of 2 elements: channels interleave per sample.
        var concatenated = zeros(12)
        referenceConcatForward(output: &concatenated, inputs: [[1, 2, 3, 4], [10, 11, 12, 13, 14, 15, 16, 17]],
                               channels: [1, 2], batch: 2, inner: 2)
        assertClose(concatenated, [1, 2, 10, 11, 12, 13, 3, 4, 14, 15, 16, 17], atol: 0, rtol: 0, "concat")
        // 6 channels, groups 2: [g0: 0 1 2 | g1: 3 4 5] -> 0 3 1 4 2 5.
        var shuffled = zeros(6)
        referenceChannelShuffleForward(output: &shuffled, input: iota(6), batch: 1, channels: 6, spatial: 1, groups: 2)
        assertClose(shuffled, [0, 3, 1, 4, 2, 5], atol: 0, rtol: 0, "channelShuffle groups 2")
        referenceChannelShuffleForward(output: &shuffled, input: iota(6), batch: 1, channels: 6, spatial: 1, groups: 3)
        assertClose(shuffled, [0, 2, 4, 1, 3, 5], atol: 0, rtol: 0, "channelShuffle groups 3")
    }

    func testSoftmax() {
        // Two rows: e^(x - 3) / sum, and a constant row.
        var output = zeros(6)
        referenceSoftmaxForward(output: &output, input: [1, 2, 3, 7, 7, 7], batch: 2, features: 3)
        assertClose(output, [0.09003057317038046, 0.24472847105479764, 0.6652409557748219, 1.0 / 3, 1.0 / 3, 1.0 / 3],
                    atol: 1e-15, rtol: 0, "softmax")
        var large = zeros(2)
        referenceSoftmaxForward(output: &large, input: [1000, 1000], batch: 1, features: 2)
        assertClose(large, [0.5, 0.5], atol: 0, rtol: 0, "softmax is shifted by the row maximum")
    }

    func testDropoutMaskOrderAndScaling() {
        // Element i is kept iff the i-th uniform draw is >= p; exactly `count` draws are made.
        var generator = SeededGenerator(seed: 5)
        var replay = generator
        let mask: [Double] = referenceDropoutMask(count: 16, p: 0.5, generator: &generator)
        let expected: [Double] = (0..<16).map { _ in Double(replay.nextUniform()) >= 0.5 ? 1 : 0 }
        XCTAssertEqual(mask, expected)
        XCTAssertEqual(generator, replay, "the mask consumes exactly one draw per element")
        XCTAssertTrue(mask.contains(0) && mask.contains(1))
        var output = zeros(16)
        referenceDropoutForward(output: &output, input: [Double](repeating: 3, count: 16), mask: mask, p: 0.5)
        assertClose(output, mask.map { $0 * 6 }, atol: 0, rtol: 0, "dropout scales kept elements by 1/(1-p)")
        let none: [Double] = referenceDropoutMask(count: 8, p: 0, generator: &generator)
        XCTAssertEqual(none, [Double](repeating: 1, count: 8), "p = 0 keeps everything")
    }
}

final class ChannelSliceForwardTests: XCTestCase {
    func testSliceTakesTheChannelsOfEverySample() {
        // 2 samples x 3 channels x 2 elements, values 0..11; channels 1..<3.
        let input = (0..<12).map(Double.init)
        var output = [Double](repeating: 0, count: 8)
        referenceChannelSliceForward(output: &output, input: input, batch: 2, channels: 3, spatial: 2, start: 1, count: 2)
        XCTAssertEqual(output, [2, 3, 4, 5, 8, 9, 10, 11])
    }
}
