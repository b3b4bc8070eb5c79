import PareAnalysis
import PareCore

/// Measures training speed on a fixed batch: forward in training mode, softmax
/// cross-entropy, backward and an SGD step (momentum 0.9, weight decay 5e-4), timed step by
/// step after warm-up. The data is seeded random images and labels, so the figure is the
/// engine's alone (a real epoch adds the loader, which runs on background threads).
public enum TrainingBenchmark {
    public struct Settings: Sendable, Codable {
        public var batch: Int
        public var threads: Int
        public var warmup: Int
        public var runs: Int
        /// Whether 3x3 stride-1 convolutions run on Winograd's algorithm
        /// (``ExecutorConfiguration/winograd``); false compares with oneDNN's direct kernels.
        public var winograd: Bool
        public init(batch: Int = 128, threads: Int = 2, warmup: Int = 5, runs: Int = 20, winograd: Bool = true) {
            self.batch = batch
            self.threads = threads
            self.warmup = warmup
            self.runs = runs
            self.winograd = winograd
        }
    }

    /// Milliseconds per step of one part of the training step.
    public struct Part: Sendable, Codable {
        public var label: String
        public var milliseconds: Double
    }

    public struct Result: Sendable, Codable {
        public var model: String
        public var settings: Settings
        public var inputShape: [Int]
        public var medianMilliseconds: Double
        public var minMilliseconds: Double
        /// Images per second at the median step time.
        public var imagesPerSecond: Double
        public var arenaBytes: Int
        /// The convolutions' implementations with counts, e.g. "jit:avx2 x4, winograd F(4x4,3x3) x13".
        public var kernels: String
        /// With profiling: the slowest executor steps, plus `loss` and `optimizer`.
        public var parts: [Part]?
        /// The executor's plan: one line per oneDNN primitive and reorder, with layouts.
        public var plan: String
    }

    /// Times `graph`'s training steps. The graph's parameters are updated (copy the graph
    /// first to keep them). `progress` gets (done, total) after each timed step.
    public static func run(_ graph: Graph, name: String, settings: Settings, profile: Bool = false,
                           progress: ((Int, Int) -> Void)? = nil) throws -> Result {
        let shapes = try graph.inferShapes()
        guard graph.inputIndices.count == 1, graph.outputs.count == 1, shapes[graph.outputs[0]].rank == 1 else {
            throw TrainerError.modelDataMismatch("the training benchmark needs a classifier with one input and one output of shape [classes]")
        }
        let classes = shapes[graph.outputs[0]][0]
        let inputShape = shapes[graph.inputIndices[0]].prepending(settings.batch)
        var generator = SeededGenerator(seed: 0)
        let images = Tensor.randomNormal(inputShape, generator: &generator)
        let labels = (0..<settings.batch).map { _ in Int(generator.next() % UInt64(classes)) }
        let executor = try DNNLExecutor(graph: graph, batchSize: settings.batch, mode: .training,
                                        configuration: ExecutorConfiguration(threads: settings.threads, profile: profile,
                                                                                     winograd: settings.winograd))
        let optimizer = SGD(learningRate: 0.01, momentum: 0.9, weightDecay: 5e-4)
        var lossSeconds = 0.0, optimizerSeconds = 0.0
        func step() throws {
            let logits = try executor.forward([images])[0]
            let lossStart = monotonicClock()
            let (_, dLogits) = try softmaxCrossEntropy(logits: logits, labels: labels)
            _ = topOneAccuracy(logits: logits, labels: labels)
            lossSeconds += monotonicClock() - lossStart
            try executor.backward([dLogits])
            let optimizerStart = monotonicClock()
            try optimizer.step(parameters: graph.parameters, gradients: executor.parameterGradients)
            optimizerSeconds += monotonicClock() - optimizerStart
        }
        for _ in 0..<settings.warmup { try step() }
        let profileBefore = executor.stepProfile
        lossSeconds = 0
        optimizerSeconds = 0
        var times: [Double] = []
        for run in 0..<settings.runs {
            let start = monotonicClock()
            try step()
            times.append((monotonicClock() - start) * 1e3)
            progress?(run + 1, settings.runs)
        }
        var parts: [Part]?
        if profile {
            let after = executor.stepProfile
            let perRun = 1e3 / Double(settings.runs)
            parts = zip(profileBefore.forward, after.forward).map { Part(label: "fwd " + $1.label, milliseconds: ($1.seconds - $0.seconds) * perRun) }
                + zip(profileBefore.backward, after.backward).map { Part(label: "bwd " + $1.label, milliseconds: ($1.seconds - $0.seconds) * perRun) }
                + [Part(label: "loss (softmax cross-entropy, accuracy)", milliseconds: lossSeconds * perRun),
                   Part(label: "optimizer (SGD step)", milliseconds: optimizerSeconds * perRun)]
            parts?.sort { $0.milliseconds > $1.milliseconds }
        }
        let med = median(times)
        return Result(model: name, settings: settings, inputShape: inputShape.dimensions, medianMilliseconds: med,
                      minMilliseconds: times.min() ?? med, imagesPerSecond: Double(settings.batch) / (med * 1e-3),
                      arenaBytes: executor.arenaBytes, kernels: executor.convolutionImplementations, parts: parts,
                      plan: executor.planDescription)
    }
}
