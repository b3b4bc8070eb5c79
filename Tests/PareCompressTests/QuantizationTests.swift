import Foundation
@testable import PareCompress
import PareCore
import XCTest

/// Post-training quantisation: the passes (BN folding, weight quantisation, calibration
/// methods) and the int8 executor against the model's own fake-quantised f32 simulation.
final class QuantizationTests: XCTestCase {
    // MARK: Graphs

    /// A residual block with a downsampling shortcut, pooling, a depthwise conv with ReLU6,
    /// a channel shuffle and slice, a concat, and a linear head: every int8 kernel.
    static func residualNetwork(channels c: Int = 8, size: Int = 8, inputChannels: Int = 3) -> Graph {
        func conv(_ out: Int, _ k: Int, stride: Int = 1, groups: Int = 1, bias: Bool = false) -> Op {
            .conv2d(Conv2dAttributes(outChannels: out, kernelSize: [k, k], stride: [stride, stride], padding: Padding2d(k / 2),
                                     groups: groups, bias: bias))
        }
        return Graph(nodes: [
            Node(name: "input", op: .input(shape: [inputChannels, size, size]), inputs: []),         // 0
            Node(name: "conv1", op: conv(c, 3), inputs: [0]),                                          // 1
            Node(name: "bn1", op: .batchNorm(BatchNormAttributes()), inputs: [1]),                     // 2
            Node(name: "relu", op: .relu, inputs: [2]),                                                // 3
            Node(name: "maxpool", op: .maxPool(Pool2dAttributes(kernelSize: [2, 2])), inputs: [3]),    // 4: c x s/2
            Node(name: "layer1.conv1", op: conv(2 * c, 3, stride: 2), inputs: [4]),                    // 5: 2c x s/4
            Node(name: "layer1.bn1", op: .batchNorm(BatchNormAttributes()), inputs: [5]),
            Node(name: "layer1.relu", op: .relu, inputs: [6]),
            Node(name: "layer1.conv2", op: conv(2 * c, 3), inputs: [7]),
            Node(name: "layer1.bn2", op: .batchNorm(BatchNormAttributes()), inputs: [8]),
            Node(name: "layer1.downsample.0", op: conv(2 * c, 1, stride: 2), inputs: [4]),            // 10
            Node(name: "layer1.downsample.1", op: .batchNorm(BatchNormAttributes()), inputs: [10]),
            Node(name: "layer1.add", op: .add, inputs: [9, 11]),                                       // 12
            Node(name: "layer1.relu2", op: .relu, inputs: [12]),
            Node(name: "dw", op: conv(2 * c, 3, groups: 2 * c, bias: true), inputs: [13]),             // 14
            Node(name: "dw.relu6", op: .relu6, inputs: [14]),
            Node(name: "shuffle", op: .channelShuffle(groups: 2), inputs: [15]),                      // 16
            Node(name: "slice", op: .channelSlice(start: 0, count: c), inputs: [16]),                  // 17
            Node(name: "cat", op: .concat, inputs: [17, 13]),                                          // 18: 3c
            Node(name: "avgpool", op: .avgPool(Pool2dAttributes(kernelSize: [2, 2])), inputs: [18]),  // 19
            Node(name: "gap", op: .globalAvgPool, inputs: [19]),
            Node(name: "flatten", op: .flatten, inputs: [20]),
            Node(name: "fc", op: .linear(LinearAttributes(outFeatures: 5)), inputs: [21]),             // 22
        ], outputs: [22])
    }

    static func batches(_ count: Int, batch: Int, shape: [Int], seed: UInt64) -> [Tensor] {
        var generator = SeededGenerator(seed: seed)
        return (0..<count).map { _ in Tensor.randomUniform(Shape([batch] + shape), low: -1.5, high: 2, generator: &generator) }
    }

    // MARK: Arithmetic

    func testActivationQuantizationRoundsHalfToEvenAndClamps() {
        let q = ActivationQuantization(scale: 0.5, zeroPoint: 0, dtype: .i8)
        XCTAssertEqual(q.quantize(0.25), 0)    // 0.5 -> 0 (even)
        XCTAssertEqual(q.quantize(0.75), 2)    // 1.5 -> 2
        XCTAssertEqual(q.quantize(-0.75), -2)
        XCTAssertEqual(q.quantize(1000), 127)
        XCTAssertEqual(q.quantize(-1000), -128)
        XCTAssertEqual(q.quantize(.nan), 0)
        let u = ActivationQuantization(scale: 0.1, zeroPoint: 10, dtype: .u8)
        XCTAssertEqual(u.quantize(-5), 0)
        XCTAssertEqual(u.quantize(1.0), 20)
        XCTAssertEqual(u.dequantize(20), 1.0, accuracy: 1e-6)
        XCTAssertEqual(u.fakeQuantize(1.04), 1.0, accuracy: 1e-6)
        let symmetric = ActivationQuantization.symmetric(bound: 2.54, unsigned: false)
        XCTAssertEqual(symmetric.scale, 0.02, accuracy: 1e-7)
        XCTAssertEqual(symmetric.dtype, .i8)
        XCTAssertEqual(ActivationQuantization.symmetric(bound: 2.55, unsigned: true).scale, 0.01, accuracy: 1e-7)
    }

    func testHalfPrecisionConversionRoundsToNearestEven() throws {
        let values: [Float] = [1, -2.5, 65504, 1e-8, 1 + 1.0 / 1024 + 1.0 / 4096, 3.14159265, .infinity]
        let x = try Tensor(shape: [7], values: values)
        let f16 = try x.converted(to: .f16).converted(to: .f32).scalars
        XCTAssertEqual(f16[0], 1)
        XCTAssertEqual(f16[1], -2.5)
        XCTAssertEqual(f16[2], 65504)
        XCTAssertEqual(f16[3], 0, "below f16's smallest subnormal")
        XCTAssertEqual(f16[4], 1 + 1.0 / 1024, "rounds to nearest")
        XCTAssertEqual(f16[5], 3.140625)
        XCTAssertEqual(f16[6], .infinity)
        let bf16 = try x.converted(to: .bf16).converted(to: .f32).scalars
        XCTAssertEqual(bf16[0], 1)
        XCTAssertEqual(bf16[1], -2.5)
        XCTAssertEqual(bf16[2], 65536, "8 significant bits")
        XCTAssertEqual(bf16[5], 3.140625)
        XCTAssertEqual(bf16[6], .infinity)
        // Ties go to even: 1 + 2^-8 lies halfway between 1 and 1 + 2^-7.
        XCTAssertEqual(try Tensor(shape: [1], values: [1 + 1.0 / 256]).converted(to: .bf16).converted(to: .f32).scalars[0], 1)
        XCTAssertThrowsError(try x.converted(to: .i8))
    }

    func testWeightQuantizationIsPerOutputChannelAndSymmetric() throws {
        let weight = try Tensor(shape: [2, 3], values: [0.5, -1.0, 0.25, 0, 0, 0])
        let (q, scales) = WeightQuantization(bits: 8).quantize(weight)
        XCTAssertEqual(q.dtype, .i8)
        XCTAssertEqual(scales.scalars[0], 1.0 / 127, accuracy: 1e-9)
        XCTAssertEqual(scales.scalars[1], 1)  // an all-zero channel keeps a valid scale
        let values = Array(UnsafeBufferPointer(start: q.storage.pointer.assumingMemoryBound(to: Int8.self), count: 6))
        XCTAssertEqual(values, [64, -127, 32, 0, 0, 0])  // 63.5 -> 64 (even), 31.75 -> 32
        let (q7, scales7) = WeightQuantization(bits: 7).quantize(weight)
        XCTAssertEqual(scales7.scalars[0], 1.0 / 63, accuracy: 1e-9)
        XCTAssertEqual(q7.storage.pointer.assumingMemoryBound(to: Int8.self)[1], -63)
    }

    // MARK: Batch-norm folding

    func testBatchNormFoldingKeepsTheFunctionAndDropsTheNorms() throws {
        let graph = try randomized(Self.residualNetwork(), seed: 3)
        let (folded, folds) = try BatchNormFolding.fold(graph)
        XCTAssertEqual(folds.map(\.batchNorm), ["bn1", "layer1.bn1", "layer1.bn2", "layer1.downsample.1"])
        XCTAssertFalse(folded.nodes.contains { if case .batchNorm = $0.op { return true } else { return false } })
        let input = Self.batches(1, batch: 2, shape: [3, 8, 8], seed: 4)[0]
        let expected = try ReferenceGraphRunner<Double>(graph: graph, batchSize: 2, mode: .inference)
            .forward([input.scalars.map(Double.init)])[0]
        let got = try ReferenceGraphRunner<Double>(graph: folded, batchSize: 2, mode: .inference)
            .forward([input.scalars.map(Double.init)])[0]
        XCTAssertEqual(got.count, expected.count)
        let worst = zip(got, expected).map { abs($0 - $1) }.max()!
        XCTAssertLessThan(worst, 1e-5, "worst element differs by \(worst)")
    }

    // MARK: The int8 executor against the fake-quantised simulation

    func testInt8ExecutorMatchesItsFakeQuantizedSimulation() throws {
        let graph = try randomized(Self.residualNetwork(), seed: 11)
        let calibration = Self.batches(4, batch: 4, shape: [3, 8, 8], seed: 12)
        var (quantized, report) = try PostTrainingQuantizer().quantize(graph, calibration: calibration)
        // The residual block's output (an int8 tensor) is a second output: it must agree with
        // the simulation to one quantisation step.
        let blockOutput = quantized.nodes.firstIndex { $0.name == "layer1.relu2" }!
        quantized.outputs.append(blockOutput)
        XCTAssertEqual(report.int8Layers, 6)
        XCTAssertTrue(report.floatLayers.isEmpty)
        let batch = 3
        let input = Self.batches(1, batch: batch, shape: [3, 8, 8], seed: 13)[0]
        let executor = try DNNLExecutor(graph: quantized, batchSize: batch, mode: .inference)
        let outputs = try executor.forward([input])
        let got = outputs[0].scalars
        let simulation = try ReferenceGraphRunner<Float>(graph: quantized, batchSize: batch, mode: .inference)
            .forward([input.scalars])
        let simulated = simulation[0]
        let step = quantized.nodes[blockOutput].quantization!.output!.scale
        let blockGot = outputs[1].scalars, blockSimulated = simulation[1]
        XCTAssertEqual(blockGot.count, blockSimulated.count)
        let steps = zip(blockGot, blockSimulated).map { abs($0 - $1) / step }
        XCTAssertLessThanOrEqual(steps.max()!, 1.001, "worst element of layer1.relu2 is \(steps.max()!) steps off")
        XCTAssertGreaterThan(Double(steps.filter { $0 < 0.001 }.count) / Double(steps.count), 0.99)
        XCTAssertEqual(got.count, simulated.count)
        let plan = executor.planDescription
        for kernel in ["conv1 conv forward int8 + relu", "dw conv forward int8 + relu6",
                       "layer1.downsample.0 conv forward int8 + layer1.add + relu",
                       "layer1.downsample.0 adds into layer1.conv2's buffer in place (int8 residual)",
                       "maxpool maxPool forward int8", "avgpool avgPool forward int8", "gap globalAvgPool forward int8",
                       "fc linear forward int8"] {
            XCTAssertTrue(plan.contains(kernel), "no '\(kernel)' in the plan:\n\(plan)")
        }
        XCTAssertFalse(plan.contains("batchnorm"), plan)
        // The logits are f32 from the int8 linear layer: only the rounding of the average
        // pools' int8 results may differ.
        let range = simulated.map(abs).max()!
        let worst = zip(got, simulated).map { abs($0 - $1) }.max()!
        XCTAssertLessThan(worst, 0.01 * range, "worst logit differs by \(worst) (range \(range))\n\(plan)")
        // And the int8 model stays close to the f32 one.
        let reference = try DNNLExecutor(graph: graph, batchSize: batch, mode: .inference).forward([input])[0].scalars
        let drift = zip(got, reference).map { abs($0 - $1) }.max()!
        XCTAssertLessThan(drift, 0.1 * range, "int8 differs from f32 by \(drift) (range \(range))")
    }

    /// A chain of residual adds, each reading an int8 convolution: as sum post-ops of that
    /// convolution, in the residual's buffer when nothing reads it later (an identity block's
    /// u8 input, as in a ResNet), else copied into the output first (a residual that a concat
    /// reads again; one that the convolution reads as its own input); an s8 destination with
    /// a u8 residual. The int8 model equals its simulation (where the convolutions are not
    /// rounded before their adds) within one step, and `fuseResidualAdds: false` gives the
    /// separate adds (every convolution's output calibrated) back.
    func testResidualAddsRunAsConvolutionSumPostOps() throws {
        func conv(_ out: Int, _ k: Int) -> Op {
            .conv2d(Conv2dAttributes(outChannels: out, kernelSize: [k, k], padding: Padding2d(k / 2), bias: true))
        }
        let graph = try randomized(Graph(nodes: [
            Node(name: "input", op: .input(shape: [4, 6, 6]), inputs: []),                 // 0
            Node(name: "c1", op: conv(8, 3), inputs: [0]),
            Node(name: "r1", op: .relu, inputs: [1]),                                        // 2: u8
            Node(name: "c2a", op: conv(8, 3), inputs: [2]),
            Node(name: "c2a.relu", op: .relu, inputs: [3]),
            Node(name: "c2", op: conv(8, 3), inputs: [4]),                                   // 5
            Node(name: "add1", op: .add, inputs: [5, 2]),                                    // r1 dead after: in place
            Node(name: "relu1", op: .relu, inputs: [6]),                                     // 7: u8
            Node(name: "c3", op: conv(8, 3), inputs: [7]),
            Node(name: "add2", op: .add, inputs: [7, 8]),                                    // 9: s8; relu1 read by cat
            Node(name: "c4", op: conv(8, 1), inputs: [9]),
            Node(name: "add3", op: .add, inputs: [10, 9]),                                   // 11: c4 reads add2 itself
            Node(name: "cat", op: .concat, inputs: [11, 7]),                                 // 12
            Node(name: "gap", op: .globalAvgPool, inputs: [12]),
            Node(name: "flatten", op: .flatten, inputs: [13]),
            Node(name: "fc", op: .linear(LinearAttributes(outFeatures: 5)), inputs: [14]),
        ], outputs: [15]), seed: 31)
        let calibration = Self.batches(4, batch: 4, shape: [4, 6, 6], seed: 32)
        let input = Self.batches(1, batch: 3, shape: [4, 6, 6], seed: 33)[0]
        for fused in [true, false] {
            var (quantized, report) = try PostTrainingQuantizer(settings: QuantizationSettings(fuseResidualAdds: fused))
                .quantize(graph, calibration: calibration)
            XCTAssertEqual(report.int8Layers, 6)
            for name in ["c2", "c3", "c4"] {
                let node = quantized.nodes.first { $0.name == name }!
                XCTAssertEqual(node.quantization?.output == nil, fused, "\(name)'s output quantisation with fused \(fused)")
            }
            let cat = 12
            quantized.outputs.append(cat)
            let executor = try DNNLExecutor(graph: quantized, batchSize: 3, mode: .inference)
            let plan = executor.planDescription
            let present = fused
                ? ["c2 conv forward int8 + add1 + relu", "c3 conv forward int8 + add2:", "c4 conv forward int8 + add3:",
                   "c2 adds into r1's buffer in place (int8 residual)", "relu1 into c3's output (int8 residual)",
                   "add2 into c4's output (int8 residual)"]
                : ["add1 add int8 + relu", "add2 add int8", "add3 add int8", "c2 conv forward int8:"]
            let absent = fused ? ["add int8", "c3 adds into", "c4 adds into"] : ["(int8 residual)", "+ add"]
            for text in present { XCTAssertTrue(plan.contains(text), "fused \(fused): no '\(text)' in the plan:\n\(plan)") }
            for text in absent { XCTAssertFalse(plan.contains(text), "fused \(fused): '\(text)' in the plan:\n\(plan)") }
            let simulation = try ReferenceGraphRunner<Float>(graph: quantized, batchSize: 3, mode: .inference)
            let step = quantized.nodes[cat].quantization!.output!.scale
            for run in 0..<2 {  // twice: the copies into the output buffers happen every run
                let got = try executor.forward([input])[1].scalars
                let simulated = try simulation.forward([input.scalars])[1]
                XCTAssertEqual(got.count, simulated.count)
                let steps = zip(got, simulated).map { abs($0 - $1) / step }
                XCTAssertLessThanOrEqual(steps.max()!, 1.001, "fused \(fused), run \(run): worst element of cat is \(steps.max()!) steps off")
                XCTAssertGreaterThan(Double(steps.filter { $0 < 0.001 }.count) / Double(steps.count), 0.98,
                                     "fused \(fused), run \(run)")
            }
        }
    }

    /// `minimumInputChannels`: a 3-channel first convolution stays f32 (with its note), the
    /// depthwise convolution (one input channel per group, 16 in all) and the rest stay int8,
    /// the layer after conv1 reads its f32 output quantised, and the executor still equals
    /// the simulation.
    func testConvolutionsWithFewInputChannelsStayFloat() throws {
        let graph = try randomized(Self.residualNetwork(), seed: 11)
        let calibration = Self.batches(4, batch: 4, shape: [3, 8, 8], seed: 12)
        let (quantized, report) = try PostTrainingQuantizer(settings: QuantizationSettings(minimumInputChannels: 4))
            .quantize(graph, calibration: calibration)
        let byName = Dictionary(uniqueKeysWithValues: report.layers.map { ($0.name, $0) })
        XCTAssertEqual(byName["conv1"]?.precision, "f32")
        XCTAssertEqual(byName["conv1"]?.note, "kept in f32 (3 input channels, below the int8 minimum of 4)")
        XCTAssertEqual(byName["dw"]?.precision, "int8")
        XCTAssertEqual(byName["layer1.conv1"]?.precision, "int8")
        XCTAssertEqual(report.int8Layers, 5)
        XCTAssertEqual(report.floatLayers.map(\.name), ["conv1"])
        let conv1 = quantized.nodes.first { $0.name == "conv1" }!
        XCTAssertNil(conv1.quantization?.weights)
        XCTAssertEqual(quantized.parameters[conv1.parameterName("weight")]?.dtype, .f32)
        let input = Self.batches(1, batch: 3, shape: [3, 8, 8], seed: 13)[0]
        let executor = try DNNLExecutor(graph: quantized, batchSize: 3, mode: .inference)
        let got = try executor.forward([input])[0].scalars
        let simulated = try ReferenceGraphRunner<Float>(graph: quantized, batchSize: 3, mode: .inference).forward([input.scalars])[0]
        XCTAssertTrue(executor.planDescription.contains("layer1.conv1 conv forward int8"), executor.planDescription)
        XCTAssertFalse(executor.planDescription.contains("conv1 conv forward int8 + relu\n"), executor.planDescription)
        let range = simulated.map(abs).max()!
        let worst = zip(got, simulated).map { abs($0 - $1) }.max()!
        XCTAssertLessThan(worst, 0.01 * range, "worst logit differs by \(worst) (range \(range))")
        // The default quantises it (the CPU-dependent default lives in the CLI).
        let all = try PostTrainingQuantizer().quantize(graph, calibration: calibration).report
        XCTAssertEqual(all.layers.first { $0.name == "conv1" }?.precision, "int8")
    }

    /// A one-channel first layer kept in f32 runs on the few-channel kernel with its batch
    /// norm, ReLU and max pooling; where that pooling's only reader is an int8 convolution
    /// (a small CNN) the kernel writes its u8 input directly (no reorder between them), where
    /// it has two (the residual network's block input) it writes f32 and each reader
    /// quantises. Both equal their fake-quantised simulations to 1% of the logits' range.
    func testOneChannelFirstLayerFeedsInt8WithoutAReorder() throws {
        func conv(_ out: Int) -> Op { .conv2d(Conv2dAttributes(outChannels: out, kernelSize: [3, 3])) }
        let smallCNN = Graph(nodes: [
            Node(name: "input", op: .input(shape: [1, 14, 14]), inputs: []),
            Node(name: "conv1", op: conv(8), inputs: [0]), Node(name: "bn1", op: .batchNorm(BatchNormAttributes()), inputs: [1]),
            Node(name: "relu1", op: .relu, inputs: [2]), Node(name: "pool1", op: .maxPool(Pool2dAttributes(kernelSize: [2, 2])), inputs: [3]),
            Node(name: "conv2", op: conv(16), inputs: [4]), Node(name: "relu2", op: .relu, inputs: [5]),
            Node(name: "pool2", op: .maxPool(Pool2dAttributes(kernelSize: [2, 2])), inputs: [6]),
            Node(name: "flatten", op: .flatten, inputs: [7]), Node(name: "fc", op: .linear(LinearAttributes(outFeatures: 5)), inputs: [8]),
        ], outputs: [9])
        let cases: [(Graph, [Int], [String], [String])] = [
            (smallCNN, [1, 14, 14], ["conv1 conv: few-channel kernel from abcd to acdb, pool1 fused", "conv2 conv forward int8"],
             ["reorder into conv2[0]"]),
            (Self.residualNetwork(inputChannels: 1), [1, 8, 8], ["conv1 conv: few-channel kernel from abcd to aBcd", ", maxpool fused",
                                                                 "reorder into layer1.conv1[0]"], ["to acdb"]),
        ]
        for (network, shape, present, absent) in cases {
            let graph = try randomized(network, seed: 11)
            let calibration = Self.batches(4, batch: 4, shape: shape, seed: 12)
            let (quantized, report) = try PostTrainingQuantizer(settings: QuantizationSettings(minimumInputChannels: 4))
                .quantize(graph, calibration: calibration)
            XCTAssertEqual(report.floatLayers.map(\.name), ["conv1"])
            let input = Self.batches(1, batch: 3, shape: shape, seed: 13)[0]
            let executor = try DNNLExecutor(graph: quantized, batchSize: 3, mode: .inference)
            let plan = executor.planDescription
            for text in present { XCTAssertTrue(plan.contains(text), "\(text) in\n\(plan)") }
            for text in absent { XCTAssertFalse(plan.contains(text), "\(text) in\n\(plan)") }
            let got = try executor.forward([input])[0].scalars
            let simulated = try ReferenceGraphRunner<Float>(graph: quantized, batchSize: 3, mode: .inference).forward([input.scalars])[0]
            let range = simulated.map(abs).max()!
            let worst = zip(got, simulated).map { abs($0 - $1) }.max()!
            XCTAssertLessThan(worst, 0.01 * range, "worst logit differs by \(worst) (range \(range))\n\(plan)")
        }
    }
}

/// Bad input to quantisation: errors that name the node, f32 fallbacks that are reported.
final class QuantizationInputTests: XCTestCase {
    func testOpsWithoutInt8KernelsStayFloatAndAreNoted() throws {
        let graph = try randomized(Graph(nodes: [
            Node(name: "input", op: .input(shape: [3, 6, 6]), inputs: []),
            Node(name: "conv1", op: .conv2d(Conv2dAttributes(outChannels: 8, kernelSize: [3, 3], padding: Padding2d(1))), inputs: [0]),
            Node(name: "act", op: .hardSwish, inputs: [1]),
            Node(name: "conv2", op: .conv2d(Conv2dAttributes(outChannels: 8, kernelSize: [3, 3], padding: Padding2d(1))), inputs: [2]),
            Node(name: "gate", op: .sigmoid, inputs: [3]),
            Node(name: "gap", op: .globalAvgPool, inputs: [4]),
            Node(name: "flatten", op: .flatten, inputs: [5]),
            Node(name: "fc", op: .linear(LinearAttributes(outFeatures: 3)), inputs: [6]),
            Node(name: "softmax", op: .softmax, inputs: [7]),
        ], outputs: [8]), seed: 5)
        let calibration = QuantizationTests.batches(2, batch: 2, shape: [3, 6, 6], seed: 6)
        let (quantized, report) = try PostTrainingQuantizer().quantize(graph, calibration: calibration)
        let byName = Dictionary(uniqueKeysWithValues: report.layers.map { ($0.name, $0) })
        XCTAssertEqual(byName["act"]?.precision, "f32")
        XCTAssertEqual(byName["act"]?.note, "no int8 kernel: runs in f32")
        XCTAssertEqual(byName["gap"]?.precision, "f32")
        XCTAssertEqual(byName["gap"]?.note, "input is f32")
        XCTAssertEqual(byName["conv2"]?.precision, "int8")
        XCTAssertEqual(byName["fc"]?.precision, "int8")
        // hardSwish's output feeds an int8 conv: it is calibrated and quantised on read.
        XCTAssertNotNil(quantized.nodes[2].quantization?.output)
        let input = QuantizationTests.batches(1, batch: 2, shape: [3, 6, 6], seed: 7)[0]
        let got = try DNNLExecutor(graph: quantized, batchSize: 2, mode: .inference).forward([input])[0].scalars
        let simulated = try ReferenceGraphRunner<Float>(graph: quantized, batchSize: 2, mode: .inference).forward([input.scalars])[0]
        let worst = zip(got, simulated).map { abs($0 - $1) }.max()!
        // fc reads s8 input through a GEMM that does not halve the doubled 7-bit weights:
        // without the executor halving them itself this differs by 0.18 (saturation).
        XCTAssertLessThan(worst, 1e-4, "softmax outputs differ by \(worst)")
    }

    /// A ReLU after a max pool (not fusable): the saturating reorder s8 -> u8 at the same scale.
    func testStandaloneReluOnInt8() throws {
        let graph = try randomized(Graph(nodes: [
            Node(name: "input", op: .input(shape: [3, 8, 8]), inputs: []),
            Node(name: "conv", op: .conv2d(Conv2dAttributes(outChannels: 8, kernelSize: [3, 3], padding: Padding2d(1), bias: true)), inputs: [0]),
            Node(name: "pool", op: .maxPool(Pool2dAttributes(kernelSize: [2, 2])), inputs: [1]),
            Node(name: "relu", op: .relu, inputs: [2]),
            Node(name: "flatten", op: .flatten, inputs: [3]),
        ], outputs: [4]), seed: 15)
        let (quantized, report) = try PostTrainingQuantizer().quantize(graph, calibration: QuantizationTests.batches(2, batch: 2, shape: [3, 8, 8], seed: 16))
        XCTAssertEqual(report.layers.first { $0.name == "relu" }?.precision, "int8")
        XCTAssertEqual(quantized.nodes[3].quantization?.output?.dtype, .u8)
        XCTAssertEqual(quantized.nodes[3].quantization?.output?.scale, quantized.nodes[2].quantization?.output?.scale)
        let input = QuantizationTests.batches(1, batch: 2, shape: [3, 8, 8], seed: 17)[0]
        let got = try DNNLExecutor(graph: quantized, batchSize: 2, mode: .inference).forward([input])[0].scalars
        let simulated = try ReferenceGraphRunner<Float>(graph: quantized, batchSize: 2, mode: .inference).forward([input.scalars])[0]
        XCTAssertEqual(got.count, simulated.count)
        XCTAssertTrue(got.contains(0) && got.allSatisfy { $0 >= 0 })
        let worst = zip(got, simulated).map { abs($0 - $1) }.max()!
        XCTAssertEqual(worst, 0, "worst element differs by \(worst)")
    }

    func testNaNInCalibrationNamesTheNodeAndBatch() throws {
        var graph = try randomized(QuantizationTests.residualNetwork(), seed: 8)
        graph.parameters["layer1.conv2.weight"]!.floats[0] = .nan
        let calibration = QuantizationTests.batches(3, batch: 2, shape: [3, 8, 8], seed: 9)
        XCTAssertThrowsError(try PostTrainingQuantizer().quantize(graph, calibration: calibration)) { error in
            XCTAssertEqual("\(error)", "calibration: node 'layer1.conv2' produced NaN or infinity on calibration batch 1; "
                           + "the model or the data is broken there")
        }
    }

    func testWrongShapeAlreadyQuantizedAndUnknownLayerAreRefused() throws {
        let graph = try randomized(QuantizationTests.residualNetwork(), seed: 10)
        XCTAssertThrowsError(try PostTrainingQuantizer().quantize(graph, calibration: QuantizationTests.batches(1, batch: 2, shape: [1, 8, 8], seed: 1))) {
            XCTAssertTrue("\($0)".contains("batch 1 has shape 2x1x8x8"), "\($0)")
        }
        XCTAssertThrowsError(try PostTrainingQuantizer(settings: QuantizationSettings(keepFloat: ["conv9"]))
            .quantize(graph, calibration: QuantizationTests.batches(1, batch: 2, shape: [3, 8, 8], seed: 1))) {
            XCTAssertTrue("\($0)".contains("no node named 'conv9'"), "\($0)")
        }
        let (quantized, _) = try PostTrainingQuantizer().quantize(graph, calibration: QuantizationTests.batches(1, batch: 2, shape: [3, 8, 8], seed: 1))
        XCTAssertThrowsError(try PostTrainingQuantizer().quantize(quantized, calibration: QuantizationTests.batches(1, batch: 2, shape: [3, 8, 8], seed: 1))) {
            XCTAssertEqual($0 as? QuantizationError, .alreadyQuantized(node: "input"))
        }
        // An int8 model refuses to train.
        XCTAssertThrowsError(try DNNLExecutor(graph: quantized, batchSize: 2, mode: .training)) {
            XCTAssertTrue("\($0)".contains("runs in inference only"), "\($0)")
        }
    }
}

/// Each calibration method on hand-made histograms of magnitudes.
final class CalibrationThresholdTests: XCTestCase {
    /// 2048 bins over [0, 20.48): a half-normal bulk in the first ~300 bins and one outlier
    /// in the last bin.
    func bulkWithOutlier() -> ActivationHistogram {
        var bins = [Double](repeating: 0, count: 2048)
        for k in 0..<400 { bins[k] = 10_000 * exp(-Double(k * k) / (2 * 100 * 100)) }
        bins[2047] = 1
        return ActivationHistogram(bins: bins, bound: 20.48, minimum: -20.47, maximum: 20.47)
    }

    func uniform() -> ActivationHistogram {
        ActivationHistogram(bins: [Double](repeating: 100, count: 2048), bound: 20.48, minimum: -20.48, maximum: 20.48)
    }

    func testMinMaxIsTheLargestMagnitude() {
        let h = ActivationHistogram(bins: [1, 1], bound: 3, minimum: -3, maximum: 2)
        XCTAssertEqual(CalibrationThreshold.bound(of: h, method: .minMax, unsigned: false), 3)
        XCTAssertEqual(CalibrationThreshold.bound(of: h, method: .minMax, unsigned: true), 2)
    }

    func testPercentileCutsAtTheCumulativeShare() {
        let h = ActivationHistogram(bins: [Double](repeating: 1, count: 100), bound: 100, minimum: 0, maximum: 100)
        XCTAssertEqual(CalibrationThreshold.bound(of: h, method: .percentile(90), unsigned: true), 90, accuracy: 1e-4)
        XCTAssertEqual(CalibrationThreshold.bound(of: h, method: .percentile(100), unsigned: true), 100, accuracy: 1e-4)
        let outlier = bulkWithOutlier()
        let p = CalibrationThreshold.bound(of: outlier, method: .percentile(99.99), unsigned: false)
        XCTAssertLessThan(p, 5, "the outlier is far less than 0.01% of the values")
    }

    func testEntropyClipsASparseTailButNotAUniformRange() {
        let clipped = CalibrationThreshold.bound(of: bulkWithOutlier(), method: .entropy, unsigned: false)
        XCTAssertGreaterThan(clipped, 2, "the bulk (sigma 1.0) must stay inside the range")
        XCTAssertLessThan(clipped, 6, "one outlier at 20.47 should be clipped")
        let full = CalibrationThreshold.bound(of: uniform(), method: .entropy, unsigned: false)
        XCTAssertGreaterThan(full, 0.95 * 20.48, "a uniform histogram loses information when clipped")
    }

    func testMeanSquaredErrorBalancesClippingAndRounding() {
        let clipped = CalibrationThreshold.bound(of: bulkWithOutlier(), method: .mse, unsigned: false)
        XCTAssertGreaterThan(clipped, 2)
        XCTAssertLessThan(clipped, 10)
        let full = CalibrationThreshold.bound(of: uniform(), method: .mse, unsigned: false)
        XCTAssertGreaterThan(full, 0.95 * 20.48)
    }

    func testMethodsParse() throws {
        XCTAssertEqual(try CalibrationMethod(parsing: "minmax"), .minMax)
        XCTAssertEqual(try CalibrationMethod(parsing: "percentile=99.99"), .percentile(99.99))
        XCTAssertEqual(try CalibrationMethod(parsing: "entropy"), .entropy)
        XCTAssertEqual(try CalibrationMethod(parsing: "mse"), .mse)
        XCTAssertThrowsError(try CalibrationMethod(parsing: "percentile=0"))
        XCTAssertThrowsError(try CalibrationMethod(parsing: "median"))
    }
}

/// Post-ReLU histograms: half the values exactly zero must not drag the entropy range down.
final class CalibrationZeroSpikeTests: XCTestCase {
    func testExactZerosAreLeftOutOfTheHistogram() {
        var values = [Float](repeating: 0, count: 10_000)
        var generator = SeededGenerator(seed: 3)
        for k in 0..<5_000 { values[k] = Float(generator.nextNormal()).magnitude }  // half-normal, sigma 1
        var first = ActivationHistogram(bound: 0, binCount: 1)
        values.withUnsafeBufferPointer { first.addExtremes($0) }
        var h = ActivationHistogram(bound: first.magnitude, binCount: 2048)
        values.withUnsafeBufferPointer { h.add($0) }
        XCTAssertEqual(h.bins.reduce(0, +), 5_000 - Double(values[..<5_000].filter { $0 == 0 }.count))
        let bound = CalibrationThreshold.bound(of: h, method: .entropy, unsigned: true)
        XCTAssertGreaterThan(bound, 0.5 * first.magnitude, "a half-normal's range must not be cut to a quarter")
    }
}
