import PareCore

/// Inference latency of a graph through the fast executor: evaluation mode, after warm-up,
/// medians over timed runs, with the settings that produced them.
public struct LatencyBenchmark {
    public struct Settings: Sendable, Codable, Equatable {
        public var batch: Int
        public var threads: Int
        public var warmup: Int
        public var runs: Int
        public init(batch: Int = 1, threads: Int = 2, warmup: Int = 10, runs: Int = 50) {
            self.batch = batch; self.threads = threads; self.warmup = warmup; self.runs = runs
        }
    }

    public struct Result: Sendable, Codable {
        public var model: String
        public var settings: Settings
        public var inputShape: [Int]
        public var medianMilliseconds: Double
        public var p90Milliseconds: Double
        public var minMilliseconds: Double
        /// Images per second at the median latency.
        public var imagesPerSecond: Double
        /// What ran: "oneDNN <version> fp32" (or "int8"), the CPU's ISA and the convolution
        /// implementations used.
        public var kernels: String
        public var arenaBytes: Int
        /// With profiling: median milliseconds per executor step, slowest first.
        public var steps: [StepTime]?
        /// The executor's plan: one line per oneDNN primitive and reorder, with layouts.
        public var plan: String
    }

    public struct StepTime: Sendable, Codable {
        public var label: String
        public var milliseconds: Double
    }

    /// Times `graph` (its first input gets seeded random data). `progress` is called after
    /// each timed run with (done, total).
    /// With `profile`, a second executor that times every step runs the same passes afterwards
    /// (the latency figures come from the unprofiled one).
    public static func run(_ graph: Graph, name: String, settings: Settings, profile: Bool = false,
                           progress: ((Int, Int) -> Void)? = nil) throws -> Result {
        let executor = try DNNLExecutor(graph: graph, batchSize: settings.batch, mode: .inference,
                                        configuration: ExecutorConfiguration(threads: settings.threads))
        let shapes = try graph.inferShapes()
        var generator = SeededGenerator(seed: 0)
        let inputs = graph.inputIndices.map { Tensor.randomNormal(shapes[$0].prepending(settings.batch), generator: &generator) }
        for _ in 0..<settings.warmup { _ = try executor.forward(inputs) }
        var times: [Double] = []
        for run in 0..<settings.runs {
            let start = monotonicClock()
            _ = try executor.forward(inputs)
            times.append((monotonicClock() - start) * 1e3)
            progress?(run + 1, settings.runs)
        }
        var steps: [StepTime]?
        if profile {
            let profiled = try DNNLExecutor(graph: graph, batchSize: settings.batch, mode: .inference,
                                            configuration: ExecutorConfiguration(threads: settings.threads, profile: true))
            for _ in 0..<settings.warmup { _ = try profiled.forward(inputs) }
            let before = profiled.stepProfile.forward
            for _ in 0..<settings.runs { _ = try profiled.forward(inputs) }
            let after = profiled.stepProfile.forward
            steps = zip(before, after).map { StepTime(label: $1.label, milliseconds: ($1.seconds - $0.seconds) * 1e3 / Double(settings.runs)) }
                .sorted { $0.milliseconds > $1.milliseconds }
        }
        let sorted = times.sorted()
        let p90 = sorted[min(sorted.count - 1, Int((Double(sorted.count) * 0.9).rounded(.up)) - 1)]
        let med = median(times)
        return Result(model: name, settings: settings,
                      inputShape: shapes[graph.inputIndices[0]].prepending(settings.batch).dimensions,
                      medianMilliseconds: med, p90Milliseconds: p90, minMilliseconds: sorted[0],
                      imagesPerSecond: Double(settings.batch) / (med * 1e-3),
                      kernels: "oneDNN \(DNNLEngine.version) "
                        + (graph.nodes.contains { $0.quantization != nil } ? "int8 (u8/s8 x s8)" : "fp32")
                        + "; ISA \(CPUFeatures.current().isa); convolutions: " + executor.convolutionImplementations,
                      arenaBytes: executor.arenaBytes, steps: steps, plan: executor.planDescription)
    }
}
