import PareCore

/// Times single convolutions through Pare's executor (the same path a model takes) and
/// reports GFLOP/s per pass: forward, backward-data and backward-weights.
public struct KernelBenchmark {
    public struct Case: Sendable {
        public var name: String
        public var batch: Int
        public var inChannels: Int
        public var size: Int
        public var convolution: Conv2dAttributes
        /// Whether the executor may run it on Winograd's algorithm (``ExecutorConfiguration/winograd``);
        /// its GFLOP/s are then effective ones: the direct convolution's operations per second.
        public var winograd = false

        public init(name: String, batch: Int, inChannels: Int, size: Int, convolution: Conv2dAttributes, winograd: Bool = false) {
            self.name = name
            self.batch = batch
            self.inChannels = inChannels
            self.size = size
            self.convolution = convolution
            self.winograd = winograd
        }

        /// Floating-point operations of one forward pass (2 per multiply-accumulate).
        public var flops: Double {
            let c = convolution
            let out = windowOutputSize(input: size, kernel: c.kernelSize[0], stride: c.stride[0],
                                       padBefore: c.padding.top, padAfter: c.padding.bottom)
            return 2 * Double(batch * c.outChannels * out * out * (inChannels / c.groups) * c.kernelSize[0] * c.kernelSize[1])
        }
    }

    /// Median milliseconds of each part of a pass, and GFLOP/s from them.
    public struct Result: Sendable, Codable {
        public var name: String
        public var flops: Double
        /// The convolution primitives alone, in the layouts the executor chose.
        public var forwardMilliseconds: Double
        public var backwardDataMilliseconds: Double
        public var backwardWeightsMilliseconds: Double
        /// Whole executor passes, including the reorders at the graph's edges.
        public var forwardPassMilliseconds: Double
        public var backwardPassMilliseconds: Double
        public var implementation: String

        public func gflops(_ milliseconds: Double) -> Double { flops / (milliseconds * 1e-3) / 1e9 }
    }

    /// The cases of issue #2: N=128, 64->64 channels, 32x32: dense 3x3 pad 1 (oneDNN's direct
    /// kernel, then Winograd, as training runs it), depthwise 3x3, 1x1.
    public static func standardCases(batch: Int = 128) -> [Case] {
        [
            Case(name: "conv3x3 64->64", batch: batch, inChannels: 64, size: 32,
                 convolution: Conv2dAttributes(outChannels: 64, kernelSize: [3, 3], padding: Padding2d(1))),
            Case(name: "conv3x3 64->64 winograd", batch: batch, inChannels: 64, size: 32,
                 convolution: Conv2dAttributes(outChannels: 64, kernelSize: [3, 3], padding: Padding2d(1)), winograd: true),
            Case(name: "depthwise3x3 64", batch: batch, inChannels: 64, size: 32,
                 convolution: Conv2dAttributes(outChannels: 64, kernelSize: [3, 3], padding: Padding2d(1), groups: 64)),
            Case(name: "conv1x1 64->64", batch: batch, inChannels: 64, size: 32,
                 convolution: Conv2dAttributes(outChannels: 64, kernelSize: [1, 1])),
        ]
    }

    public static func run(_ benchCase: Case, threads: Int, warmup: Int = 2, runs: Int = 10) throws -> Result {
        var graph = Graph(nodes: [
            Node(name: "input", op: .input(shape: [benchCase.inChannels, benchCase.size, benchCase.size]), inputs: []),
            Node(name: "conv", op: .conv2d(benchCase.convolution), inputs: [0]),
        ], outputs: [1])
        try graph.initializeParameters(seed: 0)
        let executor = try DNNLExecutor(graph: graph, batchSize: benchCase.batch, mode: .training,
                                        configuration: ExecutorConfiguration(threads: threads, computeInputGradients: true,
                                                                             profile: true, winograd: benchCase.winograd))
        var generator = SeededGenerator(seed: 1)
        let input = Tensor.randomNormal([benchCase.batch, benchCase.inChannels, benchCase.size, benchCase.size], generator: &generator)
        let outputShape = try graph.inferShapes()[1].prepending(benchCase.batch)
        let seed = Tensor.randomNormal(outputShape, generator: &generator)

        var forwardPass: [Double] = [], backwardPass: [Double] = []
        var forward: [Double] = [], backwardData: [Double] = [], backwardWeights: [Double] = []
        for run in 0..<(warmup + runs) {
            let before = executor.stepProfile
            let t0 = monotonicClock()
            _ = try executor.forward([input])
            let t1 = monotonicClock()
            try executor.backward([seed])
            let t2 = monotonicClock()
            let after = executor.stepProfile
            guard run >= warmup else { continue }
            forwardPass.append((t1 - t0) * 1e3)
            backwardPass.append((t2 - t1) * 1e3)
            func delta(_ list: KeyPath<(forward: [(label: String, seconds: Double)], backward: [(label: String, seconds: Double)]), [(label: String, seconds: Double)]>,
                       _ label: String) -> Double {
                // "conv conv forward", or "conv conv forward (winograd)".
                let a = after[keyPath: list].filter { $0.label.hasPrefix(label) }.reduce(0) { $0 + $1.seconds }
                let b = before[keyPath: list].filter { $0.label.hasPrefix(label) }.reduce(0) { $0 + $1.seconds }
                return (a - b) * 1e3
            }
            forward.append(delta(\.forward, "conv conv forward"))
            backwardData.append(delta(\.backward, "conv conv backward data"))
            backwardWeights.append(delta(\.backward, "conv conv backward weights"))
        }
        return Result(name: benchCase.name, flops: benchCase.flops,
                      forwardMilliseconds: median(forward), backwardDataMilliseconds: median(backwardData),
                      backwardWeightsMilliseconds: median(backwardWeights),
                      forwardPassMilliseconds: median(forwardPass), backwardPassMilliseconds: median(backwardPass),
                      implementation: executor.planDescription)
    }
}

/// The median of a non-empty list.
public func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    guard !sorted.isEmpty else { return .nan }
    return sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
}
