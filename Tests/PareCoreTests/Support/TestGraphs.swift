import PareCore

/// Small graphs built directly from ``Node``s (no builder DSL), shared by the executor tests.
enum TestGraphs {
    /// torchvision's ResNet `BasicBlock` without downsampling:
    /// conv3x3-bn-relu-conv3x3-bn, plus the identity, then relu. The input fans out to conv1 and the add.
    static func resNetBasicBlock(channels c: Int = 4, size: Int = 5) -> Graph {
        let conv = Conv2dAttributes(outChannels: c, kernelSize: [3, 3], padding: Padding2d(1))
        return Graph(nodes: [
            Node(name: "input", op: .input(shape: [c, size, size]), inputs: []),
            Node(name: "layer1.0.conv1", op: .conv2d(conv), inputs: [0]),
            Node(name: "layer1.0.bn1", op: .batchNorm(BatchNormAttributes()), inputs: [1]),
            Node(name: "layer1.0.relu", op: .relu, inputs: [2]),
            Node(name: "layer1.0.conv2", op: .conv2d(conv), inputs: [3]),
            Node(name: "layer1.0.bn2", op: .batchNorm(BatchNormAttributes()), inputs: [4]),
            Node(name: "layer1.0.add", op: .add, inputs: [5, 0]),
            Node(name: "layer1.0.relu2", op: .relu, inputs: [6]),
        ], outputs: [7])
    }

    /// torchvision's MobileNetV2 `InvertedResidual` with stride 1 and a residual: 1x1 expand
    /// conv-bn-relu6, 3x3 depthwise conv-bn-relu6, 1x1 project conv-bn, plus the input.
    static func mobileNetV2InvertedResidual(channels c: Int = 4, expansion: Int = 2, size: Int = 4) -> Graph {
        let hidden = c * expansion
        return Graph(nodes: [
            Node(name: "input", op: .input(shape: [c, size, size]), inputs: []),
            Node(name: "features.1.conv.0.0", op: .conv2d(Conv2dAttributes(outChannels: hidden, kernelSize: [1, 1])), inputs: [0]),
            Node(name: "features.1.conv.0.1", op: .batchNorm(BatchNormAttributes()), inputs: [1]),
            Node(name: "features.1.conv.0.2", op: .relu6, inputs: [2]),
            Node(name: "features.1.conv.1.0",
                 op: .conv2d(Conv2dAttributes(outChannels: hidden, kernelSize: [3, 3], padding: Padding2d(1), groups: hidden)),
                 inputs: [3]),
            Node(name: "features.1.conv.1.1", op: .batchNorm(BatchNormAttributes()), inputs: [4]),
            Node(name: "features.1.conv.1.2", op: .relu6, inputs: [5]),
            Node(name: "features.1.conv.2", op: .conv2d(Conv2dAttributes(outChannels: c, kernelSize: [1, 1])), inputs: [6]),
            Node(name: "features.1.conv.3", op: .batchNorm(BatchNormAttributes()), inputs: [7]),
            Node(name: "features.1.add", op: .add, inputs: [8, 0]),
        ], outputs: [9])
    }

    /// Every op at least once on a [4, 5, 5] input: a groups-2 conv (stride 1, asymmetric
    /// padding, bias) into a channel shuffle, batch norm, hardSwish, a ceil-mode max pool
    /// (also a second graph output, and fanning out), a dilated depthwise conv, relu, an
    /// average pool without padded zeros, a sigmoid branch, concat, relu6, an add, global
    /// average pooling, flatten, a 1-d batch norm, dropout, linear and softmax.
    static func everyOp() -> Graph {
        Graph(nodes: [
            Node(name: "input", op: .input(shape: [4, 5, 5]), inputs: []),
            Node(name: "stem.conv", op: .conv2d(Conv2dAttributes(
                outChannels: 6, kernelSize: [3, 3], padding: Padding2d(top: 1, left: 0, bottom: 1, right: 2), groups: 2,
                bias: true)), inputs: [0]),                                                                  // 6x5x6
            Node(name: "stem.shuffle", op: .channelShuffle(groups: 2), inputs: [1]),
            Node(name: "stem.bn", op: .batchNorm(BatchNormAttributes(momentum: 0.2)), inputs: [2]),
            Node(name: "stem.act", op: .hardSwish, inputs: [3]),
            Node(name: "pool", op: .maxPool(Pool2dAttributes(kernelSize: [2, 2], ceilMode: true)), inputs: [4]),  // 6x3x3
            Node(name: "branch.dw", op: .conv2d(Conv2dAttributes(
                outChannels: 6, kernelSize: [3, 3], padding: Padding2d(2), dilation: [2, 2], groups: 6)), inputs: [5]),
            Node(name: "branch.relu", op: .relu, inputs: [6]),
            Node(name: "branch.avg", op: .avgPool(Pool2dAttributes(
                kernelSize: [3, 3], stride: [2, 2], padding: Padding2d(1), ceilMode: true, countIncludePad: false)),
                 inputs: [7]),                                                                               // 6x2x2
            Node(name: "gate.pool", op: .avgPool(Pool2dAttributes(kernelSize: [2, 2], stride: [2, 2], ceilMode: true)),
                 inputs: [5]),                                                                               // 6x2x2
            Node(name: "gate", op: .sigmoid, inputs: [9]),
            Node(name: "mix.cat", op: .concat, inputs: [8, 10]),                                             // 12x2x2
            Node(name: "mix.relu6", op: .relu6, inputs: [11]),
            Node(name: "mix.add", op: .add, inputs: [12, 11]),
            Node(name: "head.pool", op: .globalAvgPool, inputs: [13]),
            Node(name: "head.flatten", op: .flatten, inputs: [14]),
            Node(name: "head.bn", op: .batchNorm(BatchNormAttributes()), inputs: [15]),
            Node(name: "head.drop", op: .dropout(p: 0.25), inputs: [16]),
            Node(name: "head.fc", op: .linear(LinearAttributes(outFeatures: 5)), inputs: [17]),
            Node(name: "head.softmax", op: .softmax, inputs: [18]),
        ], outputs: [19, 5])
    }

    /// torchvision's MobileNetV3 inverted residual with squeeze-and-excitation, and the other
    /// activations: 1x1 expand conv-bn-PReLU (per channel), 3x3 depthwise conv-bn-SiLU, the SE
    /// gate (global pool, 1x1 conv, leaky ReLU, 1x1 conv, hard sigmoid) multiplied in, ELU,
    /// a 1x1 project conv, tanh, a product with the input (same shape) and a shared PReLU.
    static func squeezeExcitationBlock(channels c: Int = 3, hidden: Int = 4, squeeze: Int = 2, size: Int = 4) -> Graph {
        Graph(nodes: [
            Node(name: "input", op: .input(shape: [c, size, size]), inputs: []),
            Node(name: "block.0.0", op: .conv2d(Conv2dAttributes(outChannels: hidden, kernelSize: [1, 1])), inputs: [0]),
            Node(name: "block.0.1", op: .batchNorm(BatchNormAttributes()), inputs: [1]),
            Node(name: "block.0.2", op: .prelu(perChannel: true), inputs: [2]),
            Node(name: "block.1.0", op: .conv2d(Conv2dAttributes(outChannels: hidden, kernelSize: [3, 3], padding: Padding2d(1),
                                                                 groups: hidden)), inputs: [3]),
            Node(name: "block.1.1", op: .batchNorm(BatchNormAttributes()), inputs: [4]),
            Node(name: "block.1.2", op: .silu, inputs: [5]),
            Node(name: "block.2.avgpool", op: .globalAvgPool, inputs: [6]),
            Node(name: "block.2.fc1", op: .conv2d(Conv2dAttributes(outChannels: squeeze, kernelSize: [1, 1], bias: true)), inputs: [7]),
            Node(name: "block.2.activation", op: .leakyRelu(negativeSlope: 0.1), inputs: [8]),
            Node(name: "block.2.fc2", op: .conv2d(Conv2dAttributes(outChannels: hidden, kernelSize: [1, 1], bias: true)), inputs: [9]),
            Node(name: "block.2.scale_activation", op: .hardSigmoid, inputs: [10]),
            Node(name: "block.2.mul", op: .mul, inputs: [6, 11]),
            Node(name: "block.2.elu", op: .elu(alpha: 0.8), inputs: [12]),
            Node(name: "block.3.0", op: .conv2d(Conv2dAttributes(outChannels: c, kernelSize: [1, 1])), inputs: [13]),
            Node(name: "block.3.tanh", op: .tanh, inputs: [14]),
            Node(name: "block.mul", op: .mul, inputs: [15, 0]),
            Node(name: "block.act", op: .prelu(perChannel: false), inputs: [16]),
        ], outputs: [17])
    }

    /// Initialises the graph's parameters (torchvision's schemes, `seed`), then replaces the
    /// batch-norm scales, every bias and the running statistics with random values, so that
    /// no gradient check passes because a parameter happens to be 0 or 1.
    static func withRandomParameters(_ graph: Graph, seed: UInt64) throws -> Graph {
        var graph = graph
        try graph.initializeParameters(seed: seed)
        var generator = SeededGenerator(seed: seed &+ 1000)
        for (name, _, spec) in try graph.parameterSpecs() {
            let range: ClosedRange<Double>
            switch spec.role {
            case .weight where spec.shape.rank == 1, .runningVariance: range = 0.5...1.5
            case .bias, .runningMean, .slope: range = -0.5...0.5
            case .weight, .batchCount, .quantizedWeight, .weightScale: continue
            }
            let values = randomArray(spec.shape.elementCount, &generator, in: range).map { Float($0) }
            graph.parameters[name] = try Tensor(shape: spec.shape, values: values)
        }
        return graph
    }
}
