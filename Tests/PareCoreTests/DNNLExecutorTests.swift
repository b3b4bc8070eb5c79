@testable import PareCore
import XCTest

/// The fast oneDNN executor against the plain reference executor: same graph, same
/// parameters (deep-copied, since both update batch-norm statistics in place), same inputs
/// and seed gradients; outputs, parameter gradients, input gradients and running statistics
/// must agree. Two steps run, so reuse of planned buffers across steps is covered too.
///
/// Tolerances: fp32 kernels that sum in different orders; atol 1e-4 and rtol 1e-3 relative
/// to each tensor's element, with atol scaled by the tensor's largest magnitude (>= 1).
final class DNNLExecutorTests: XCTestCase {
    static func deepCopy(_ graph: Graph) -> Graph {
        var copy = graph
        copy.parameters = graph.parameters.mapValues { $0.copy() }
        return copy
    }

    func compare(_ graph: Graph, batch: Int, mode: ExecutionMode, seed: UInt64 = 1, steps: Int = 2,
                 file: StaticString = #filePath, line: UInt = #line) throws {
        let fastGraph = try TestGraphs.withRandomParameters(graph, seed: seed)
        let referenceGraph = Self.deepCopy(fastGraph)
        let configuration = ExecutorConfiguration(threads: 2, seed: 7, computeInputGradients: true)
        let fast = try DNNLExecutor(graph: fastGraph, batchSize: batch, mode: mode, configuration: configuration)
        let reference = try ReferenceExecutor(graph: referenceGraph, batchSize: batch, mode: mode, configuration: configuration)
        let shapes = try graph.inferShapes()
        var generator = SeededGenerator(seed: seed &+ 99)
        for step in 0..<steps {
            let inputs = graph.inputIndices.map { Tensor.randomNormal(shapes[$0].prepending(batch), generator: &generator) }
            let fastOutputs = try fast.forward(inputs)
            let referenceOutputs = try reference.forward(inputs)
            for (k, (a, b)) in zip(fastOutputs, referenceOutputs).enumerated() {
                check(a, b, "step \(step) output \(k)", file: file, line: line)
            }
            guard mode == .training else { continue }
            for name in try graph.parameterSpecs().filter({ !$0.spec.role.isTrainable && $0.spec.dtype == .f32 }).map(\.name) {
                check(fastGraph.parameters[name]!, referenceGraph.parameters[name]!, "step \(step) \(name)", file: file, line: line)
            }
            let seeds = graph.outputs.map { Tensor.randomNormal(shapes[$0].prepending(batch), generator: &generator) }
            try fast.backward(seeds)
            try reference.backward(seeds)
            for name in try graph.trainableParameterNames() {
                guard let a = fast.parameterGradients[name], let b = reference.parameterGradients[name] else {
                    XCTFail("no gradient for \(name)", file: file, line: line)
                    continue
                }
                check(a, b, "step \(step) d\(name)", file: file, line: line)
            }
            XCTAssertEqual(fast.inputGradients.count, reference.inputGradients.count, file: file, line: line)
            for (k, (a, b)) in zip(fast.inputGradients, reference.inputGradients).enumerated() {
                check(a, b, "step \(step) dInput \(k)", file: file, line: line)
            }
        }
    }

    func check(_ actual: Tensor, _ expected: Tensor, _ label: String, file: StaticString, line: UInt) {
        let scale = max(1, Double(expected.scalars.map { abs($0) }.max() ?? 0))
        assertClose(actual, expected, atol: 1e-4 * scale, rtol: 1e-3, label, file: file, line: line)
    }

    // MARK: Single ops on odd shapes

    func graph(input: Shape, _ ops: [Op]) -> Graph {
        var nodes = [Node(name: "input", op: .input(shape: input), inputs: [])]
        for (k, op) in ops.enumerated() { nodes.append(Node(name: "n\(k)", op: op, inputs: [k])) }
        return Graph(nodes: nodes, outputs: [nodes.count - 1])
    }

    func conv(_ out: Int, _ k: [Int], stride: [Int] = [1, 1], padding: Padding2d = Padding2d(0), dilation: [Int] = [1, 1],
              groups: Int = 1, bias: Bool = false) -> Op {
        .conv2d(Conv2dAttributes(outChannels: out, kernelSize: k, stride: stride, padding: padding, dilation: dilation,
                                 groups: groups, bias: bias))
    }

    func testDenseConvolutions() throws {
        try compare(graph(input: [5, 9, 9], [conv(7, [3, 3], padding: Padding2d(1), bias: true)]), batch: 3, mode: .training)
        try compare(graph(input: [3, 11, 7], [conv(8, [3, 2], stride: [2, 2],
                                                   padding: Padding2d(top: 1, left: 0, bottom: 2, right: 1))]),
                    batch: 2, mode: .training)
        try compare(graph(input: [4, 10, 9], [conv(6, [3, 3], padding: Padding2d(2), dilation: [2, 2], bias: true)]),
                    batch: 2, mode: .training)
        try compare(graph(input: [17, 8, 8], [conv(33, [1, 1])]), batch: 2, mode: .training)
    }

    /// Training runs 3x3 stride-1 convolutions with at least 8 channels on Winograd's
    /// algorithm, each pass whose 4x4 tiles cover its map with little waste (with bias,
    /// padding 1 and 0, a padded channel block, partial tiles), and still matches the
    /// reference; other passes and convolutions, and every convolution with `winograd` off,
    /// stay on oneDNN.
    func testTrainingRunsThreeByThreeConvolutionsOnWinograd() throws {
        // n0: 11x11 -> 11x11, every pass; n2: 11x11 -> 9x9, only the input's gradient
        // (9x9 fills 56% of its 12x12 tiles); n4: stride 2, none. 16 input channels: oneDNN
        // blocks them by 8 (AVX2) or 16 (AVX-512); 20 output channels pad either block.
        let g = graph(input: [16, 11, 11], [conv(20, [3, 3], padding: Padding2d(1), bias: true), .relu,
                                            conv(16, [3, 3]), .relu, conv(8, [3, 3], stride: [2, 2], padding: Padding2d(1))])
        let parameterised = try TestGraphs.withRandomParameters(g, seed: 1)
        let training = try DNNLExecutor(graph: parameterised, batchSize: 3, mode: .training)
        XCTAssertEqual(training.convolutionImplementations.components(separatedBy: ", ").filter { $0.hasPrefix("winograd") },
                       ["winograd F(4x4,3x3) x1", "winograd F(4x4,3x3) backward only x1"], training.convolutionImplementations)
        let plan = training.planDescription
        let layouts = [8, 16].map { "aBcd\($0)b -> aBcd\($0)b" }
        XCTAssertTrue(layouts.contains { plan.contains("n0 conv: winograd F(4x4,3x3) on \($0) for forward, backwardData, backwardWeights") },
                      plan)
        XCTAssertTrue(layouts.contains { plan.contains("n2 conv: winograd F(4x4,3x3) on \($0) for backwardData\n") }, plan)
        XCTAssertTrue(training.planDescription.contains("n2 conv backward weights: jit"), training.planDescription)
        let direct = try DNNLExecutor(graph: parameterised, batchSize: 3, mode: .training,
                                      configuration: ExecutorConfiguration(winograd: false))
        XCTAssertFalse(direct.convolutionImplementations.contains("winograd"), direct.convolutionImplementations)
        let inference = try DNNLExecutor(graph: parameterised, batchSize: 3, mode: .inference)
        XCTAssertFalse(inference.convolutionImplementations.contains("winograd"), inference.convolutionImplementations)
        try compare(g, batch: 3, mode: .training, steps: 3)
    }

    /// A first layer's weights gradient (1 to 4 input channels, plain input, blocked output)
    /// runs on ``FewChannelWeightGradient`` and still matches the reference.
    func testFewInputChannelWeightGradients() throws {
        for (channels, attributes) in [(1, Conv2dAttributes(outChannels: 16, kernelSize: [3, 3], bias: true)),
                                       (3, Conv2dAttributes(outChannels: 24, kernelSize: [3, 3], stride: [2, 2], padding: Padding2d(1)))] {
            let g = graph(input: [channels, 12, 13], [.conv2d(attributes), .relu, conv(8, [3, 3], padding: Padding2d(1))])
            let executor = try DNNLExecutor(graph: try TestGraphs.withRandomParameters(g, seed: 1), batchSize: 3, mode: .training,
                                            configuration: ExecutorConfiguration(threads: 2))
            XCTAssertTrue(executor.planDescription.contains("n0 conv backward weights: few-channel kernel from abcd"),
                          executor.planDescription)
            try compare(g, batch: 3, mode: .training)
        }
    }

    /// Maps smaller than the kernel, where oneDNN has no optimised backward kernel for the
    /// forward's layouts and the executor lets it choose layouts and reorders.
    func testConvolutionsOnMapsSmallerThanTheKernel() throws {
        let g = graph(input: [32, 2, 2], [conv(32, [3, 3], padding: Padding2d(1)), .relu,
                                          conv(64, [3, 3], stride: [2, 2], padding: Padding2d(1)), .relu,
                                          conv(64, [3, 3], padding: Padding2d(1))])
        let executor = try DNNLExecutor(graph: try TestGraphs.withRandomParameters(g, seed: 1), batchSize: 2, mode: .training)
        XCTAssertFalse(executor.planDescription.contains("backward weights: ref"), executor.planDescription)
        try compare(g, batch: 2, mode: .training)
    }

    func testGroupedAndDepthwiseConvolutions() throws {
        try compare(graph(input: [16, 9, 9], [conv(16, [3, 3], stride: [2, 2], padding: Padding2d(1), groups: 16)]),
                    batch: 2, mode: .training)
        try compare(graph(input: [6, 7, 7], [conv(12, [3, 3], padding: Padding2d(1), groups: 6)]), batch: 2, mode: .training)
        try compare(graph(input: [8, 6, 6], [conv(8, [1, 1], groups: 2), .channelShuffle(groups: 2),
                                             conv(8, [3, 3], padding: Padding2d(1), groups: 8)]),
                    batch: 3, mode: .training)
    }

    /// A shuffle between convolutions that use a blocked layout (AVX2: nChw8c) or nhwc (AVX-512's
    /// brgconv) runs on it (forward and backward, no reorder to plain and back) and still
    /// matches the reference; 12 channels in a blocked layout of 8 (padded) take the plain path.
    func testChannelShuffleOnBlockedLayouts() throws {
        let g = graph(input: [8, 6, 6], [conv(16, [3, 3], padding: Padding2d(1)), .channelShuffle(groups: 2),
                                         conv(16, [3, 3], padding: Padding2d(1), groups: 16), .channelShuffle(groups: 4),
                                         conv(16, [1, 1], groups: 2), .relu])
        let parameterised = try TestGraphs.withRandomParameters(g, seed: 1)
        for mode in [ExecutionMode.training, .inference] {
            let executor = try DNNLExecutor(graph: parameterised, batchSize: 3, mode: mode)
            let plan = executor.planDescription
            XCTAssertEqual(plan.components(separatedBy: "channelShuffle: on ").count - 1, 2, plan)
            XCTAssertFalse(plan.contains("n1 input 0") || plan.contains("n2 input 0") || plan.contains("n3 input 0"), plan)
            try compare(g, batch: 3, mode: mode)
        }
        let odd = graph(input: [6, 5, 5], [conv(12, [1, 1], groups: 2), .channelShuffle(groups: 2),
                                           conv(12, [3, 3], padding: Padding2d(1), groups: 12)])
        let executor = try DNNLExecutor(graph: try TestGraphs.withRandomParameters(odd, seed: 2), batchSize: 2, mode: .training)
        XCTAssertFalse(executor.planDescription.contains("channelShuffle: on aBcd"), executor.planDescription)
        try compare(odd, batch: 2, mode: .training)
    }

    /// Max pooling between blocked activations runs on ``BlockedMaxPooling`` (training and
    /// inference) and still matches the reference, ceil mode and overlapping windows included.
    func testMaxPoolingOnBlockedLayoutsRunsOnPareKernel() throws {
        let g = graph(input: [12, 13, 13], [conv(20, [3, 3], padding: Padding2d(1)), .relu,
                                            .maxPool(Pool2dAttributes(kernelSize: [2, 2], ceilMode: true)),
                                            conv(16, [3, 3], padding: Padding2d(1)),
                                            .maxPool(Pool2dAttributes(kernelSize: [3, 3], stride: [2, 2], padding: Padding2d(1)))])
        let parameterised = try TestGraphs.withRandomParameters(g, seed: 1)
        for mode in [ExecutionMode.training, .inference] {
            let executor = try DNNLExecutor(graph: parameterised, batchSize: 3, mode: mode)
            let plan = executor.planDescription
            // Pare's kernel where the convolutions write a blocked layout (AVX2); on nhwc (AVX-512's
            // brgconv) oneDNN's pooling reads it as it is. Either way no reorder before a pooling.
            let blocked = try [2, 4].filter { try MemoryDescriptor.channelBlock(executor.inputMDs[$0][0], shape: executor.fullShape($0 - 1)) != nil }
            XCTAssertEqual(plan.components(separatedBy: "blocked max pooling").count - 1, blocked.count, plan)
            XCTAssertFalse(plan.contains("n2 input 0") || plan.contains("n4 input 0"), plan)
            try compare(g, batch: 3, mode: mode)
        }
    }

    func testNormalisationActivationsAndPooling() throws {
        try compare(graph(input: [17, 7, 7], [conv(17, [3, 3], padding: Padding2d(1)), .batchNorm(BatchNormAttributes()),
                                              .relu, .maxPool(Pool2dAttributes(kernelSize: [3, 3], stride: [2, 2],
                                                                               padding: Padding2d(1)))]),
                    batch: 3, mode: .training)
        try compare(graph(input: [5, 7, 7], [.batchNorm(BatchNormAttributes(momentum: 0.3)), .relu6, .hardSwish, .sigmoid,
                                             .maxPool(Pool2dAttributes(kernelSize: [2, 2], ceilMode: true))]),
                    batch: 2, mode: .training)
        try compare(graph(input: [4, 9, 8], [.avgPool(Pool2dAttributes(kernelSize: [3, 3], stride: [2, 2], padding: Padding2d(1))),
                                             .avgPool(Pool2dAttributes(kernelSize: [2, 2], ceilMode: true, countIncludePad: false))]),
                    batch: 2, mode: .training)
        try compare(graph(input: [6, 5, 5], [.avgPool(Pool2dAttributes(kernelSize: [2, 2], stride: [2, 2], ceilMode: true))]),
                    batch: 2, mode: .training)
        try compare(graph(input: [6, 5, 3], [.globalAvgPool, .flatten, .linear(LinearAttributes(outFeatures: 4)),
                                             .batchNorm(BatchNormAttributes()), .softmax]),
                    batch: 4, mode: .training)
    }

    /// Leaky ReLU, ELU, tanh and SiLU on oneDNN eltwise (alone and as convolution post-ops in
    /// inference), hard sigmoid and PReLU (per channel and shared) on Swift loops.
    func testNewActivationsAndPReLU() throws {
        try compare(graph(input: [5, 7, 7], [conv(5, [3, 3], padding: Padding2d(1)), .hardSigmoid, .leakyRelu(negativeSlope: 0.1),
                                             .elu(alpha: 0.7), .tanh, .silu, .prelu(perChannel: true)]),
                    batch: 2, mode: .training)
        let fused = graph(input: [17, 6, 6], [conv(17, [3, 3], padding: Padding2d(1)), .batchNorm(BatchNormAttributes()), .silu,
                                              conv(16, [1, 1]), .elu(alpha: 0.5), conv(5, [1, 1]), .leakyRelu(negativeSlope: 0.2),
                                              conv(6, [1, 1]), .tanh, .prelu(perChannel: false)])
        try compare(fused, batch: 2, mode: .training)
        try compare(fused, batch: 2, mode: .inference)
        let plan = try DNNLExecutor(graph: try TestGraphs.withRandomParameters(fused, seed: 1), batchSize: 1,
                                    mode: .inference).planDescription
        for activation in ["silu", "elu", "leakyRelu", "tanh"] {
            XCTAssertTrue(plan.contains("+ \(activation)"),
                          "\(activation) not fused: \(plan)")
        }
        try compare(graph(input: [7], [.prelu(perChannel: true), .linear(LinearAttributes(outFeatures: 3))]), batch: 3,
                    mode: .training)
    }

    /// LRN on oneDNN (a blocked layout after a 16-channel conv, and plain), reflection and
    /// replication padding on Swift loops.
    func testLocalResponseNormAndPadding() throws {
        let lrn = LRNAttributes(size: 5, alpha: 0.5, beta: 0.75, k: 2)
        let reflect = PadAttributes(padding: Padding2d(top: 2, left: 1, bottom: 0, right: 3), mode: .reflect)
        let replicate = PadAttributes(padding: Padding2d(top: 1, left: 0, bottom: 3, right: 2), mode: .replicate)
        for g in [graph(input: [5, 6, 7], [.localResponseNorm(lrn), .pad(reflect), .pad(replicate)]),
                  graph(input: [4, 6, 6], [conv(16, [3, 3], padding: Padding2d(1)), .localResponseNorm(LRNAttributes(size: 3)),
                                           .pad(PadAttributes(padding: Padding2d(1), mode: .reflect)), conv(5, [3, 3])])] {
            try compare(g, batch: 2, mode: .training)
            try compare(g, batch: 3, mode: .inference)
        }
    }

    /// A squeeze-and-excitation block (the gate `[C, 1, 1]` broadcast by oneDNN's binary mul,
    /// in a blocked layout for C = 16) and a same-shape product.
    func testMulWithChannelGateAndSameShape() throws {
        for channels in [16, 5] {
            let g = Graph(nodes: [
                Node(name: "input", op: .input(shape: [channels, 5, 5]), inputs: []),
                Node(name: "conv", op: conv(channels, [3, 3], padding: Padding2d(1)), inputs: [0]),
                Node(name: "se.pool", op: .globalAvgPool, inputs: [1]),
                Node(name: "se.fc1", op: conv(4, [1, 1], bias: true), inputs: [2]),
                Node(name: "se.relu", op: .relu, inputs: [3]),
                Node(name: "se.fc2", op: conv(channels, [1, 1], bias: true), inputs: [4]),
                Node(name: "se.gate", op: .hardSigmoid, inputs: [5]),
                Node(name: "se.mul", op: .mul, inputs: [1, 6]),
                Node(name: "square", op: .mul, inputs: [7, 0]),
            ], outputs: [8])
            try compare(g, batch: 2, mode: .training)
            try compare(g, batch: 3, mode: .inference)
        }
        // A gate made by linear layers: pool, flatten, linear, unflatten to [C, 1, 1].
        let linearGate = Graph(nodes: [
            Node(name: "input", op: .input(shape: [16, 4, 5]), inputs: []),
            Node(name: "pool", op: .globalAvgPool, inputs: [0]),
            Node(name: "flatten", op: .flatten, inputs: [1]),
            Node(name: "fc", op: .linear(LinearAttributes(outFeatures: 16)), inputs: [2]),
            Node(name: "view", op: .unflatten, inputs: [3]),
            Node(name: "gate", op: .sigmoid, inputs: [4]),
            Node(name: "mul", op: .mul, inputs: [0, 5]),
        ], outputs: [6])
        try compare(linearGate, batch: 3, mode: .training)
        try compare(linearGate, batch: 2, mode: .inference)
    }

    func testChannelSliceConcatAndShuffle() throws {
        let g = Graph(nodes: [
            Node(name: "input", op: .input(shape: [6, 5, 5]), inputs: []),
            Node(name: "a", op: .channelSlice(start: 0, count: 3), inputs: [0]),
            Node(name: "b", op: .channelSlice(start: 3, count: 3), inputs: [0]),
            Node(name: "conv", op: conv(5, [3, 3], padding: Padding2d(1)), inputs: [2]),
            Node(name: "cat", op: .concat, inputs: [1, 3]),
            Node(name: "shuffle", op: .channelShuffle(groups: 2), inputs: [4]),
        ], outputs: [5])
        try compare(g, batch: 2, mode: .training)
    }

    // MARK: Blocks and whole graphs

    func testResNetBasicBlock() throws {
        try compare(TestGraphs.resNetBasicBlock(channels: 4, size: 5), batch: 3, mode: .training)
        try compare(TestGraphs.resNetBasicBlock(channels: 17, size: 7), batch: 2, mode: .training)
        try compare(TestGraphs.resNetBasicBlock(channels: 32, size: 6), batch: 2, mode: .inference)
    }

    func testSqueezeExcitationBlock() throws {
        try compare(TestGraphs.squeezeExcitationBlock(), batch: 3, mode: .training)
        try compare(TestGraphs.squeezeExcitationBlock(channels: 16, hidden: 32, squeeze: 8, size: 5), batch: 2, mode: .training)
        try compare(TestGraphs.squeezeExcitationBlock(channels: 16, hidden: 32, squeeze: 8, size: 5), batch: 2, mode: .inference)
    }

    func testMobileNetV2InvertedResidual() throws {
        try compare(TestGraphs.mobileNetV2InvertedResidual(channels: 4, expansion: 2, size: 4), batch: 3, mode: .training)
        try compare(TestGraphs.mobileNetV2InvertedResidual(channels: 16, expansion: 6, size: 6), batch: 2, mode: .training)
        try compare(TestGraphs.mobileNetV2InvertedResidual(channels: 5, expansion: 3, size: 5), batch: 2, mode: .inference)
    }

    /// Inference folds each batch norm that follows a convolution into its weights and runs
    /// the following activation as a post-op; the result still matches the reference (the
    /// tests above), the plan has no separate batch-norm or activation steps, and the fused
    /// and unfused executors agree.
    func testInferenceFusesBatchNormAndActivationIntoConvolutions() throws {
        for graph in [TestGraphs.mobileNetV2InvertedResidual(channels: 5, expansion: 3, size: 5),
                      TestGraphs.resNetBasicBlock(channels: 17, size: 6)] {
            let g = try TestGraphs.withRandomParameters(graph, seed: 3)
            let fused = try DNNLExecutor(graph: g, batchSize: 2, mode: .inference, configuration: ExecutorConfiguration(threads: 2))
            let unfused = try DNNLExecutor(graph: g, batchSize: 2, mode: .inference,
                                           configuration: ExecutorConfiguration(threads: 2, fuseInference: false))
            let plan = fused.planDescription
            XCTAssertFalse(plan.contains("batchnorm forward"), plan)
            XCTAssertTrue(plan.contains("conv forward + "), plan)
            XCTAssertTrue(unfused.planDescription.contains("batchnorm forward"), unfused.planDescription)
            var generator = SeededGenerator(seed: 5)
            let x = Tensor.randomNormal(try g.inferShapes()[0].prepending(2), generator: &generator)
            let expected = try unfused.forward([x])[0]
            check(try fused.forward([x])[0], expected, "fused vs unfused", file: #filePath, line: #line)
        }
        // The residual add and the relu after it run inside the block's second convolution.
        let block = try TestGraphs.withRandomParameters(TestGraphs.resNetBasicBlock(channels: 8, size: 4), seed: 1)
        let plan = try DNNLExecutor(graph: block, batchSize: 1, mode: .inference).planDescription
        XCTAssertTrue(plan.contains("layer1.0.conv1 conv forward + layer1.0.bn1 + relu"), plan)
        XCTAssertTrue(plan.contains("layer1.0.conv2 conv forward + layer1.0.bn2 + layer1.0.add + relu"), plan)
        XCTAssertFalse(plan.contains("relu forward"), plan)
        XCTAssertFalse(plan.contains("layer1.0.add add"), plan)
        // The residual is the plain-layout graph input: copied into the blocked output.
        XCTAssertTrue(plan.contains("input into layer1.0.conv2's output (residual)"), plan)
    }

    /// `graph` against the reference in inference, then with random parameters in a fused and
    /// an unfused inference executor (2 threads), the fused plan checked for the `present`
    /// and `absent` texts.
    func fusedAndUnfused(_ graph: Graph, batch: Int, present: [String], absent: [String],
                         file: StaticString = #filePath, line: UInt = #line) throws -> (Graph, DNNLExecutor, DNNLExecutor) {
        try compare(graph, batch: batch, mode: .inference, file: file, line: line)
        let g = try TestGraphs.withRandomParameters(graph, seed: 3)
        let fused = try DNNLExecutor(graph: g, batchSize: batch, mode: .inference, configuration: ExecutorConfiguration(threads: 2))
        let unfused = try DNNLExecutor(graph: g, batchSize: batch, mode: .inference,
                                       configuration: ExecutorConfiguration(threads: 2, fuseInference: false))
        let plan = fused.planDescription
        for text in present { XCTAssertTrue(plan.contains(text), "\(text) in\n\(plan)", file: file, line: line) }
        for text in absent { XCTAssertFalse(plan.contains(text), "\(text) in\n\(plan)", file: file, line: line) }
        return (g, fused, unfused)
    }

    /// A residual add fused as a sum post-op: into the later of its two convolutions (a
    /// downsampling block's shortcut conv, writing into the other branch's buffer in place),
    /// with a residual computed after the convolution (then not fused), and with the add a
    /// graph output (materialised in the convolution's output, the relu after it separate)
    /// whose residual is the convolution's own input (copied, not overwritten). Fused, unfused
    /// and reference executors agree, in two runs; the caller's input is not changed.
    func testInferenceFusesResidualAddsAsSumPostOps() throws {
        func c(_ out: Int, stride: Int = 1, k: Int = 3) -> Op {
            conv(out, [k, k], stride: [stride, stride], padding: Padding2d(k / 2))
        }
        let bn = Op.batchNorm(BatchNormAttributes())
        // input → conv a (stride 2) → bn → relu → conv b → bn ┐
        // input → shortcut conv (1×1, stride 2) → bn ───────── add → relu
        let downsample = Graph(nodes: [
            Node(name: "input", op: .input(shape: [6, 8, 8]), inputs: []),
            Node(name: "a", op: c(16, stride: 2), inputs: [0]), Node(name: "a.bn", op: bn, inputs: [1]), Node(name: "a.relu", op: .relu, inputs: [2]),
            Node(name: "b", op: c(16), inputs: [3]), Node(name: "b.bn", op: bn, inputs: [4]),
            Node(name: "shortcut", op: c(16, stride: 2, k: 1), inputs: [0]), Node(name: "shortcut.bn", op: bn, inputs: [6]),
            Node(name: "add", op: .add, inputs: [5, 7]), Node(name: "relu", op: .relu, inputs: [8]),
        ], outputs: [9])
        // The residual (a max pool of the input, 5 channels: plain layout) comes after the convolution.
        let later = Graph(nodes: [
            Node(name: "input", op: .input(shape: [5, 6, 6]), inputs: []),
            Node(name: "a", op: c(5), inputs: [0]), Node(name: "a.bn", op: bn, inputs: [1]),
            Node(name: "pool", op: .maxPool(Pool2dAttributes(kernelSize: [3, 3], stride: [1, 1], padding: Padding2d(1))), inputs: [0]),
            Node(name: "add", op: .add, inputs: [2, 3]), Node(name: "relu", op: .relu, inputs: [4]),
        ], outputs: [5])
        // The residual in plain layout (the graph's input, 5 channels) before a blocked convolution
        // output; the add is an output too.
        let asOutput = Graph(nodes: [
            Node(name: "input", op: .input(shape: [5, 6, 6]), inputs: []),
            Node(name: "a", op: c(5), inputs: [0]), Node(name: "a.bn", op: bn, inputs: [1]),
            Node(name: "add", op: .add, inputs: [0, 2]), Node(name: "relu", op: .relu, inputs: [3]),
        ], outputs: [3, 4])
        // The residual (a blocked relu output) is read again after the add: copied, not overwritten.
        let readLater = Graph(nodes: [
            Node(name: "input", op: .input(shape: [4, 6, 6]), inputs: []),
            Node(name: "c0", op: c(8), inputs: [0]), Node(name: "r", op: .relu, inputs: [1]),
            Node(name: "a", op: c(8), inputs: [2]), Node(name: "a.bn", op: bn, inputs: [3]),
            Node(name: "add", op: .add, inputs: [4, 2]), Node(name: "relu", op: .relu, inputs: [5]),
            Node(name: "pool", op: .maxPool(Pool2dAttributes(kernelSize: [2, 2], stride: [2, 2])), inputs: [2]),
        ], outputs: [6, 7])
        let expectations: [(Graph, [String], [String])] = [
            (readLater, ["a conv forward + a.bn + add + relu", "r into a's output (residual)"], ["in place"]),
            (downsample, ["shortcut conv forward + shortcut.bn + add + relu", "b conv forward + b.bn:",
                          "shortcut adds into b.bn's buffer in place"], ["add add:", "relu relu forward"]),
            (later, ["a conv forward + a.bn:", "add add:", "relu relu forward"], ["+ add"]),
            // The convolution reads the input itself: copied, not overwritten.
            (asOutput, ["a conv forward + a.bn + add:", "relu relu forward", "input into a's output (residual)"], ["in place"]),
        ]
        for (graph, present, absent) in expectations {
            let (g, fused, unfused) = try fusedAndUnfused(graph, batch: 2, present: present, absent: absent)
            var generator = SeededGenerator(seed: 5)
            let x = Tensor.randomNormal(try g.inferShapes()[0].prepending(2), generator: &generator)
            let kept = x.copy()
            let expected = try unfused.forward([x])
            for _ in 0..<2 {  // twice: the copy into the output buffer happens every run
                for (k, (a, b)) in zip(try fused.forward([x]), expected).enumerated() {
                    check(a, b, "fused vs unfused output \(k)", file: #filePath, line: #line)
                }
            }
            XCTAssertEqual(x.scalars, kept.scalars)
        }
    }

    /// A convolution with one input channel followed by a max pooling runs on
    /// ``FewChannelConvolution`` in inference, with its batch norm folded, its ReLU and the
    /// pooling fused (smallcnn's and ResNet's first-layer shapes, no activation, 20 channels);
    /// it stays on oneDNN where the activation is not a ReLU, where no pooling follows, and
    /// where the ReLU is also a graph output (the plan's notes say which). Fused, unfused and reference executors agree over two runs, and changed
    /// weights take effect on reloadParameters() (the packed copy is refreshed).
    func testOneChannelConvolutionsRunOnTheFewChannelKernel() throws {
        let bn = Op.batchNorm(BatchNormAttributes())
        let pool2 = Op.maxPool(Pool2dAttributes(kernelSize: [2, 2]))
        let pool3 = Op.maxPool(Pool2dAttributes(kernelSize: [3, 3], stride: [2, 2], padding: Padding2d(1)))
        let smallcnn = graph(input: [1, 14, 13], [conv(32, [3, 3], bias: true), bn, .relu, pool2, conv(8, [3, 3])])
        let resnet = graph(input: [1, 20, 19], [conv(16, [7, 7], stride: [2, 2], padding: Padding2d(3)), bn, .relu, pool3])
        let plain = graph(input: [1, 9, 8], [conv(20, [3, 2], stride: [2, 1], padding: Padding2d(1), bias: true), pool2, .relu])
        let relu6 = graph(input: [1, 8, 8], [conv(8, [3, 3]), .relu6, pool2])
        let noPool = graph(input: [1, 8, 8], [conv(16, [3, 3], padding: Padding2d(1)), bn, .relu, conv(8, [3, 3])])
        let reluOut = Graph(nodes: [
            Node(name: "input", op: .input(shape: [1, 10, 10]), inputs: []),
            Node(name: "c", op: conv(8, [3, 3]), inputs: [0]), Node(name: "r", op: .relu, inputs: [1]),
            Node(name: "p", op: pool2, inputs: [2]),
        ], outputs: [2, 3])
        let expectations: [(Graph, [String], [String])] = [
            (smallcnn, ["n0 conv: few-channel kernel from abcd to aBcd", ", n3 fused"], ["n3 maxPool", "batchnorm", "relu forward"]),
            (resnet, ["n0 conv: few-channel kernel from abcd to aBcd", ", n3 fused"], ["n3 maxPool", "batchnorm"]),
            (plain, ["n0 conv: few-channel kernel", ", n1 fused", "n2 relu forward"], ["n1 maxPool"]),
            (relu6, ["n0 conv forward + relu6", "n2 maxPool"], ["few-channel"]),
            // The ReLU is a graph output, so the pooling after it cannot be fused: oneDNN runs
            // the convolution (with the ReLU as its post-op), as it does one with no pooling.
            (reluOut, ["c conv forward + relu", "p maxPool"], ["few-channel", "relu forward"]),
            (noPool, ["n0 conv forward + n1 + relu"], ["few-channel"]),
        ]
        for (graph, present, absent) in expectations {
            let (g, fused, unfused) = try fusedAndUnfused(graph, batch: 3, present: present, absent: absent)
            var generator = SeededGenerator(seed: 5)
            let x = Tensor.randomNormal(try g.inferShapes()[0].prepending(3), generator: &generator)
            let expected = try unfused.forward([x])
            for _ in 0..<2 {
                for (k, (a, b)) in zip(try fused.forward([x]), expected).enumerated() {
                    check(a, b, "fused vs unfused output \(k)", file: #filePath, line: #line)
                }
            }
            let weights = g.parameters["\(g.nodes[1].name).weight"]!.floats
            for k in 0..<weights.count { weights[k] = -2 * weights[k] }
            try fused.reloadParameters()
            try unfused.reloadParameters()
            check(try fused.forward([x])[0], try unfused.forward([x])[0], "after reload", file: #filePath, line: #line)
        }
    }

    /// Batch norm with eps 0 (as some ONNX files have) on a channel count that blocked
    /// layouts pad (13 → 16) gives the reference's values, not NaN.
    func testBatchNormWithZeroEpsilonOnPaddedChannels() throws {
        let g = graph(input: [3, 6, 6], [conv(13, [3, 3], padding: Padding2d(1)), .batchNorm(BatchNormAttributes(eps: 0)),
                                         conv(5, [3, 3], padding: Padding2d(1))])
        try compare(g, batch: 2, mode: .training)
        try compare(g, batch: 2, mode: .inference)
    }

    /// Folded weights are re-folded on reloadParameters(): changed batch-norm statistics and
    /// convolution weights take effect.
    func testInferenceRefoldsBatchNormOnReload() throws {
        let g = try TestGraphs.withRandomParameters(TestGraphs.resNetBasicBlock(channels: 6, size: 5), seed: 2)
        let executor = try DNNLExecutor(graph: g, batchSize: 2, mode: .inference)
        var generator = SeededGenerator(seed: 4)
        let x = Tensor.randomNormal([2, 6, 5, 5], generator: &generator)
        _ = try executor.forward([x])
        let variance = g.parameters["layer1.0.bn1.running_var"]!.floats
        for k in 0..<variance.count { variance[k] *= 3 }
        let weights = g.parameters["layer1.0.conv2.weight"]!.floats
        for k in 0..<weights.count { weights[k] = -weights[k] }
        try executor.reloadParameters()
        let reference = try ReferenceExecutor(graph: g, batchSize: 2, mode: .inference)
        check(try executor.forward([x])[0], try reference.forward([x])[0], "after reload", file: #filePath, line: #line)
    }

    func testEveryOpGraphInBothModes() throws {
        try compare(TestGraphs.everyOp(), batch: 3, mode: .training)
        try compare(TestGraphs.everyOp(), batch: 3, mode: .inference)
    }

    // MARK: Planning

    func testInferencePlanReusesMemory() throws {
        var nodes = [Node(name: "input", op: .input(shape: [16, 16, 16]), inputs: [])]
        for k in 0..<8 {
            nodes.append(Node(name: "conv\(k)", op: conv(16, [3, 3], padding: Padding2d(1)), inputs: [nodes.count - 1]))
            nodes.append(Node(name: "relu\(k)", op: .relu, inputs: [nodes.count - 1]))
        }
        var g = Graph(nodes: nodes, outputs: [nodes.count - 1])
        try g.initializeParameters(seed: 0)
        let activation = 4 * 16 * 16 * 16 * 4
        let inference = try DNNLExecutor(graph: g, batchSize: 4, mode: .inference)
        let training = try DNNLExecutor(graph: g, batchSize: 4, mode: .training)
        // 17 activations exist; inference keeps only a few alive at once, training keeps them for backward.
        XCTAssertLessThanOrEqual(inference.arenaBytes, 5 * activation, inference.planDescription)
        XCTAssertGreaterThanOrEqual(training.arenaBytes, 16 * activation)
    }

    func testInferenceSeesChangedWeightsAfterReload() throws {
        var g = graph(input: [16, 6, 6], [conv(16, [3, 3], padding: Padding2d(1))])
        try g.initializeParameters(seed: 0)
        let executor = try DNNLExecutor(graph: g, batchSize: 2, mode: .inference)
        var generator = SeededGenerator(seed: 1)
        let x = Tensor.randomNormal([2, 16, 6, 6], generator: &generator)
        let before = try executor.forward([x])[0].scalars
        let weights = g.parameters["n0.weight"]!.floats
        for k in 0..<weights.count { weights[k] *= 2 }
        try executor.reloadParameters()
        let after = try executor.forward([x])[0].scalars
        assertClose(after, before.map { $0 * 2 }, atol: 1e-5, rtol: 1e-5, "doubled weights double the output")
    }

    func testErrorsNameTheProblem() throws {
        var g = graph(input: [3, 4, 4], [conv(2, [3, 3])])
        try g.initializeParameters(seed: 0)
        let executor = try DNNLExecutor(graph: g, batchSize: 2, mode: .training)
        XCTAssertThrowsError(try executor.backward([Tensor(zeros: [2, 2, 2, 2])])) { error in
            XCTAssertEqual(error as? ExecutionError, .backwardWithoutTrainingForward)
        }
        XCTAssertThrowsError(try executor.forward([Tensor(zeros: [2, 3, 5, 4])])) { error in
            XCTAssertEqual(error as? ExecutionError, .wrongInputShape(input: "input", expected: [2, 3, 4, 4], got: [2, 3, 5, 4]))
        }
        XCTAssertThrowsError(try executor.forward([])) { error in
            XCTAssertEqual(error as? ExecutionError, .wrongInputCount(expected: 1, got: 0))
        }
        var bad = g
        bad.parameters["n0.weight"] = Tensor(zeros: [2, 3, 2, 2])
        XCTAssertThrowsError(try DNNLExecutor(graph: bad, batchSize: 1, mode: .inference)) { error in
            XCTAssertTrue("\(error)".contains("n0.weight"), "\(error)")
        }
    }

    /// Output tensors view the executor's arena; they must keep it alive, so that an
    /// executor used as a temporary (`try DNNLExecutor(...).forward(x)`) does not leave
    /// dangling outputs. Freed memory is refilled with NaNs to make a dangling read visible.
    func testOutputsOutliveTheExecutor() throws {
        let graph = try TestGraphs.withRandomParameters(TestGraphs.resNetBasicBlock(channels: 16, size: 12), seed: 3)
        var generator = SeededGenerator(seed: 5)
        let input = Tensor.randomNormal(try graph.inferShapes()[graph.inputIndices[0]].prepending(2), generator: &generator)
        let expected = try ReferenceExecutor(graph: graph, batchSize: 2, mode: .inference).forward([input])[0]
        func temporaryExecutorOutput() throws -> Tensor {
            try DNNLExecutor(graph: graph, batchSize: 2, mode: .inference).forward([input])[0]
        }
        let output = try temporaryExecutorOutput()
        var filler: [TensorStorage] = []
        for _ in 0..<8 {
            let storage = TensorStorage(byteCount: 1 << 16)
            storage.pointer.initializeMemory(as: UInt8.self, repeating: 0xFF, count: 1 << 16)
            filler.append(storage)
        }
        check(output, expected, "output of a released executor", file: #filePath, line: #line)
        XCTAssertEqual(filler.count, 8)
    }
}
