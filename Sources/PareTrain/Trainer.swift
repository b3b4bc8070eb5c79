import Foundation
import PareAnalysis
import PareCore
import PareData
import PareIO

/// Trains a classifier epoch by epoch, and after every epoch evaluates it, saves checkpoints
/// and writes its metrics into a ``RunDirectory``.
///
/// ```swift
/// let trainer = try Trainer(graph: try Zoo.build("smallcnn"), trainingSet: train, testSet: test,
///                           configuration: TrainingConfiguration(), directory: runURL)
/// trainer.onEvent = { event in ... }           // progress, for a display
/// let summary = try trainer.run()
/// // after an interruption, the same weights as if there had been none:
/// try Trainer(resuming: runURL, trainingSet: train, testSet: test).run()
/// ```
///
/// An epoch: a training-mode ``DNNLExecutor`` (dropout seeded by the run's seed and the
/// epoch) runs every full batch of the shuffled training set (the smaller last batch is
/// dropped); gradients of ``TrainingConfiguration/accumulationSteps`` micro-batches are
/// averaged (``GradientAccumulator``) and optionally clipped before each optimizer step,
/// whose learning rate the schedule sets from the run's optimizer-step count. Then the
/// validation and test sets are evaluated in inference mode, the best checkpoint by the
/// selection score (validation, else test accuracy) and the last one are written
/// atomically, and `metrics.csv` and `summary.json` are rewritten.
///
/// A NaN or infinite loss or gradient stops the run before the optimizer step with
/// ``TrainingError/nonFiniteValue(step:at:)``, which names the step and where the value first
/// shows: the input batch, a node's weights, a node's output, the loss or a node's gradient
/// (``NonFiniteDiagnosis``, run only then); a gradient norm that overflows when clipping stops
/// it with ``TrainingError/nonFiniteGradient(step:norm:)``; NaN weights or running statistics
/// found after an epoch with ``TrainerError/nonFiniteParameters(epoch:names:)``. Either way
/// nothing of that epoch is saved, and `last.safetensors` still holds the last good epoch.
///
/// With ``TrainingConfiguration/fakeQuantization`` the run is quantisation-aware: training
/// and evaluation executors run fake-quantised (``FakeQuantization``), the activation ranges
/// move with every training batch, and both checkpoints hold the ranges of their epoch
/// (tensors named ``FakeQuantization/statePrefix`` + node, beside the optimizer state).
public final class Trainer {
    public let configuration: TrainingConfiguration
    public let directory: RunDirectory
    /// The model being trained; its parameter tensors are updated in place.
    public let graph: Graph
    /// The current phase's optimizer (a new one at the start of every phase).
    public private(set) var optimizer: any Optimizer
    /// What the run minimises (cross-entropy unless distilling).
    public let objective: any TrainingObjective
    /// A quantisation-aware run's fake quantisation (its plan is the configuration's): the
    /// activation ranges, saved in every checkpoint beside the optimizer state.
    public let fakeQuantization: FakeQuantization?
    /// Where the run stands: what the last checkpoint holds, once an epoch is saved.
    public private(set) var state: TrainingCheckpoint
    /// Called on the training thread as the run progresses.
    public var onEvent: ((TrainingEvent) -> Void)?

    private let trainLoader: DataLoader
    private let validationSet: (any Dataset)?
    /// The test set given (evaluated after every epoch).
    public let testSet: (any Dataset)?
    private let evaluationTransforms: [any Transform]
    private let evaluator: Evaluator
    private let accumulator: GradientAccumulator?
    /// The phase ``optimizer`` belongs to.
    private var optimizerPhase: Int

    /// Starts a run in `directory` (created if needed; it must not hold a run already).
    /// `graph` is trained in place, to minimise `objective`.
    public convenience init(graph: Graph, trainingSet: any Dataset, testSet: (any Dataset)?,
                            configuration: TrainingConfiguration, directory: URL,
                            objective: any TrainingObjective = CrossEntropyObjective()) throws {
        let run = RunDirectory(directory)
        guard !FileManager.default.fileExists(atPath: run.last.path) else {
            throw TrainerError.runExists(directory: directory.path)
        }
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try self.init(graph: graph, trainingSet: trainingSet, testSet: testSet, configuration: configuration,
                      directory: run, objective: objective, resuming: nil)
    }

    /// Continues the run in `directory` from its `last.safetensors`, with the same data.
    /// `configuration` defaults to the checkpoint's; one given may differ from it only in
    /// `epochs` (to train longer, in a run of one phase), `threads` (results then differ in the
    /// last bits) and `notes`. `objective` must be the one the run was started with (the same
    /// ``TrainingObjective/identity``).
    public convenience init(resuming directory: URL, trainingSet: any Dataset, testSet: (any Dataset)?,
                            configuration: TrainingConfiguration? = nil,
                            objective: any TrainingObjective = CrossEntropyObjective()) throws {
        let run = RunDirectory(directory)
        guard FileManager.default.fileExists(atPath: run.last.path) else {
            throw TrainerError.noCheckpoint(file: run.last.path)
        }
        try run.removeInterruptedWrites()
        let (graph, checkpoint, optimizerState) = try TrainingCheckpoint.read(from: run.last)
        guard var state = checkpoint else {
            throw TrainerError.invalidCheckpoint(file: run.last.path, reason: "it holds a model but no training state")
        }
        let asked = configuration ?? state.configuration
        let mayChange: Set<String> = state.configuration.laterPhases.isEmpty ? ["epochs", "threads", "notes"] : ["threads", "notes"]
        var differences = state.configuration.differences(from: asked, ignoring: mayChange)
        if state.objective != objective.identity {
            differences.append("objective: \(state.objective ?? "cross-entropy") vs \(objective.identity ?? "cross-entropy")")
        }
        guard differences.isEmpty else { throw TrainerError.resumeMismatch(file: run.last.path, differences: differences) }
        state.configuration = asked
        try self.init(graph: graph, trainingSet: trainingSet, testSet: testSet, configuration: asked, directory: run,
                      objective: objective, resuming: (state, optimizerState))
    }

    private init(graph: Graph, trainingSet: any Dataset, testSet: (any Dataset)?, configuration: TrainingConfiguration,
                 directory: RunDirectory, objective: any TrainingObjective,
                 resuming: (state: TrainingCheckpoint, optimizerState: [String: Tensor])?) throws {
        try configuration.validate()
        try Self.checkFit(graph, sampleShape: trainingSet.sampleShape, classes: trainingSet.classes,
                          extraOutputs: objective.extraOutputs)
        try objective.check(graph: graph, sampleShape: trainingSet.sampleShape, classes: trainingSet.classes)
        self.objective = objective
        let training: any Dataset
        if configuration.validationFraction > 0 {
            let split = ValidationSplit(trainingSet, fraction: configuration.validationFraction, seed: configuration.seed,
                                        stratified: true)
            training = split.train
            validationSet = split.validation
        } else {
            training = trainingSet
            validationSet = nil
        }
        guard training.count >= configuration.batchSize else {
            throw TrainerError.unusableData("the training set has \(training.count) samples, fewer than one batch of \(configuration.batchSize)")
        }
        guard let selection = validationSet ?? testSet, selection.count > 0 else {
            throw TrainerError.unusableData("there is no test set to choose the best checkpoint by: hold out a validation fraction")
        }
        if let testSet, testSet.sampleShape != trainingSet.sampleShape || testSet.classes != trainingSet.classes {
            throw TrainerError.unusableData("the test set has \(testSet.sampleShape) images in \(testSet.classes) classes, "
                                            + "the training set \(trainingSet.sampleShape) in \(trainingSet.classes)")
        }
        self.configuration = configuration
        self.directory = directory
        self.graph = graph
        if let plan = configuration.fakeQuantization {
            let restored = try resuming.map { try FakeQuantization(plan: plan, restoring: $0.optimizerState) }
            fakeQuantization = try restored ?? FakeQuantization(plan: plan)
            try fakeQuantization!.validate(for: graph)
        } else {
            fakeQuantization = nil
        }
        self.testSet = testSet
        let pipeline = try AugmentationList(parsing: configuration.augmentation)
            .pipeline(sampleShape: training.sampleShape, normalize: configuration.normalization)
        trainLoader = DataLoader(training, batchSize: configuration.batchSize, shuffle: true, seed: configuration.seed,
                                 dropLast: true, transforms: [pipeline])
        evaluationTransforms = configuration.normalization.map { [$0] } ?? []
        evaluator = Evaluator(graph: graph, batchSize: configuration.batchSize, threads: configuration.threads,
                              fakeQuantization: fakeQuantization)
        // A resumed run's saved optimizer state belongs to the phase of its last epoch.
        optimizerPhase = configuration.phase(ofEpoch: max((resuming?.state.completedEpochs ?? 0) - 1, 0)).index
        let phaseSettings = configuration.phaseSettings(optimizerPhase)
        optimizer = phaseSettings.optimizer.make(phaseSettings)
        accumulator = configuration.accumulationSteps > 1 ? GradientAccumulator(microBatches: configuration.accumulationSteps) : nil
        if let resuming {
            let sizes = [("training samples", resuming.state.trainingSamples, training.count),
                         ("selection samples", resuming.state.selectionSamples, selection.count)]
            let differences = sizes.filter { $0.1 != $0.2 }.map { "\($0.0): \($0.1) vs \($0.2)" }
            guard differences.isEmpty else {
                throw TrainerError.resumeMismatch(file: directory.last.path, differences: differences)
            }
            try optimizer.loadState(resuming.optimizerState.filter { !$0.key.hasPrefix(FakeQuantization.statePrefix) })
            state = resuming.state
        } else {
            state = TrainingCheckpoint(completedEpochs: 0, steps: 0, configuration: configuration,
                                       trainingSamples: training.count, selectionSamples: selection.count,
                                       bestEpoch: nil, bestAccuracy: nil, history: [], objective: objective.identity)
        }
    }

    /// Trains until `configuration.totalEpochs` epochs are complete (every phase), or until
    /// `stoppingAfterEpoch` (1-based) is, whichever comes first; returns the summary written
    /// to `summary.json`.
    @discardableResult
    public func run(stoppingAfterEpoch stop: Int? = nil) throws -> TrainingSummary {
        let end = min(configuration.totalEpochs, stop ?? configuration.totalEpochs)
        while state.completedEpochs < end { try trainEpoch() }
        return summary
    }

    /// The summary of the run so far.
    public var summary: TrainingSummary {
        TrainingSummary(configuration: configuration, completedEpochs: state.completedEpochs, steps: state.steps,
                        trainingSamples: state.trainingSamples, selectionSamples: state.selectionSamples,
                        selectedBy: validationSet == nil ? "test" : "validation", bestEpoch: state.bestEpoch,
                        bestAccuracy: state.bestAccuracy, trainableParameters: (try? graph.trainableParameterCount()) ?? 0,
                        totalSeconds: state.history.reduce(0) { $0 + $1.seconds }, final: state.history.last,
                        history: state.history)
    }

    // MARK: One epoch

    private func trainEpoch() throws {
        let started = monotonicClock()
        let epoch = state.completedEpochs  // 0-based here; 1-based in metrics and events
        let executorConfiguration = ExecutorConfiguration(threads: configuration.threads,
                                                          seed: Self.dropoutSeed(configuration.seed, epoch: epoch))
        let executor = try DNNLExecutor(graph: graph, batchSize: configuration.batchSize, mode: .training,
                                        configuration: executorConfiguration, fakeQuantization: fakeQuantization)
        let batches = trainLoader.epoch(epoch)
        let stepsPerEpoch = Self.optimizerSteps(batches: batches.count, accumulation: configuration.accumulationSteps)
        // Every epoch has the same steps, so a phase starting at epoch e starts at step e * stepsPerEpoch.
        let (phase, phaseStart) = configuration.phase(ofEpoch: epoch)
        let phaseSettings = configuration.phaseSettings(phase)
        if phase != optimizerPhase {
            optimizer = phaseSettings.optimizer.make(phaseSettings)
            optimizerPhase = phase
        }
        let schedule = try phaseSettings.learningRateSchedule(stepsPerEpoch: stepsPerEpoch)
        let phaseFirstStep = phaseStart * stepsPerEpoch
        let firstRate = schedule.learningRate(at: state.steps - phaseFirstStep)
        let epochs = configuration.totalEpochs
        onEvent?(.epochStarted(epoch: epoch + 1, epochs: epochs, batches: batches.count, learningRate: firstRate))

        var lossSum = 0.0, correct = 0.0, seen = 0
        while let batch = try batches.next() {
            let outputs = try executor.forward([batch.images])
            let logits = outputs[0]
            let (loss, outputGradients) = try objective.loss(outputs: outputs, batch: batch, configuration: configuration)
            guard loss.isFinite else { throw nonFiniteStop(images: batch.images, loss: loss, gradients: nil) }
            lossSum += Double(loss) * Double(batch.count)
            correct += topOneAccuracy(logits: logits, labels: batch.labels) * Double(batch.count)
            seen += batch.count
            try executor.backward(outputGradients)

            // With accumulation, the epoch's last group may be short: it still gets a step,
            // its gradients scaled by 1/K like every group's (PyTorch's usual loop).
            let gradients: [String: Tensor]?
            if let accumulator {
                try accumulator.add(executor.parameterGradients)
                gradients = accumulator.isComplete || batches.delivered == batches.count ? accumulator.take() : nil
            } else {
                gradients = executor.parameterGradients
            }
            if let gradients {
                if configuration.bnSparsity > 0 { addBatchNormSparsity(to: gradients) }
                guard gradients.values.allSatisfy({ $0.dtype != .f32 || NonFiniteDiagnosis.allFinite($0) }) else {
                    throw nonFiniteStop(images: batch.images, loss: loss, gradients: gradients)
                }
                if configuration.gradientClipNorm > 0 {
                    let norm = clipGradientNorm(gradients, maxNorm: configuration.gradientClipNorm)
                    guard norm.isFinite else { throw TrainingError.nonFiniteGradient(step: state.steps + 1, norm: norm) }
                }
                optimizer.learningRate = schedule.learningRate(at: state.steps - phaseFirstStep)
                try optimizer.step(parameters: graph.parameters, gradients: gradients)
                state.steps += 1
            }
            let elapsed = monotonicClock() - started
            onEvent?(.batchFinished(BatchProgress(
                epoch: epoch + 1, epochs: epochs, batch: batches.delivered, batches: batches.count,
                loss: lossSum / Double(seen), accuracy: correct / Double(seen), imagesPerSecond: Double(seen) / elapsed,
                secondsRemaining: elapsed / Double(batches.delivered) * Double(batches.count - batches.delivered))))
        }
        let trainingSeconds = monotonicClock() - started

        onEvent?(.evaluating(epoch: epoch + 1))
        let validation = try validationSet.map { try evaluator.evaluate($0, transforms: evaluationTransforms).score }
        let test = try testSet.map { try evaluator.evaluate($0, transforms: evaluationTransforms).score }
        try checkFinite(epoch: epoch + 1, scores: [validation, test].compactMap { $0 })

        let metrics = EpochMetrics(epoch: epoch + 1, learningRate: firstRate, trainLoss: lossSum / Double(max(seen, 1)),
                                   trainAccuracy: correct / Double(max(seen, 1)), validation: validation, test: test,
                                   seconds: monotonicClock() - started,
                                   imagesPerSecond: Double(seen) / max(trainingSeconds, 1e-9),
                                   dataWaitSeconds: batches.waitSeconds)
        let score = (validation ?? test)!.accuracy
        let isBest = state.bestAccuracy.map { score > $0 } ?? true
        let saved = state
        state.completedEpochs = epoch + 1
        state.history.append(metrics)
        if isBest {
            state.bestEpoch = epoch + 1
            state.bestAccuracy = score
        }
        do {
            try save(isBest: isBest)
        } catch {
            // A failed write (a full disk) leaves the files of the last saved epoch, and so does `state`.
            state = saved
            throw error
        }
        onEvent?(.epochFinished(metrics, isBest: isBest))
    }

    /// Writes the epoch's files. `last.safetensors` is the commit point and goes after
    /// `best`: a run killed in between redoes the epoch and rewrites `best` identically.
    private func save(isBest: Bool) throws {
        let ranges = fakeQuantization?.stateTensors ?? [:]
        if isBest { try state.file(graph: graph, optimizerState: ranges).write(to: directory.best) }
        try state.file(graph: graph, optimizerState: optimizer.stateTensors().merging(ranges) { a, _ in a }).write(to: directory.last)
        try writeAtomically(Data(EpochMetrics.csv(state.history).utf8), to: directory.metrics)
        try writeAtomically(try TrainingCheckpoint.encoder(pretty: true).encode(summary), to: directory.summary)
    }

    /// The stop for step `state.steps + 1`, whose loss or gradients are not finite: where the
    /// NaN or infinity first shows (a rerun of the batch with the reference kernels, only now).
    private func nonFiniteStop(images: Tensor, loss: Float, gradients: [String: Tensor]?) -> TrainingError {
        let step = state.steps + 1
        guard let place = NonFiniteDiagnosis.locate(graph: graph, images: images, loss: loss, gradients: gradients) else {
            return .nonFiniteLoss(step: step, loss: loss)
        }
        return .nonFiniteValue(step: step, at: place)
    }

    private func checkFinite(epoch: Int, scores: [EvaluationScore]) throws {
        let bad = graph.parameters.filter { $0.value.dtype == .f32 && $0.value.floats.contains { !$0.isFinite } }
        guard bad.isEmpty else { throw TrainerError.nonFiniteParameters(epoch: epoch, names: bad.keys.sorted()) }
        if let score = scores.first(where: { !$0.loss.isFinite }) {
            throw TrainingError.nonFiniteLoss(step: state.steps, loss: Float(score.loss))
        }
    }

    // MARK: Helpers

    /// Adds `λ·sign(γ)` to the gradient of every batch-norm scale (network slimming's L1
    /// penalty on γ).
    private func addBatchNormSparsity(to gradients: [String: Tensor]) {
        let lambda = configuration.bnSparsity
        for node in graph.nodes {
            guard case .batchNorm = node.op, let gamma = graph.parameters[node.parameterName("weight")],
                  let gradient = gradients[node.parameterName("weight")] else { continue }
            let g = gradient.floats, w = gamma.floats
            for i in 0..<g.count where w[i] != 0 { g[i] += w[i] > 0 ? lambda : -lambda }
        }
    }

    /// Checks that `graph` is a classifier for images of `sampleShape` in `classes` classes
    /// (its first output the logits, followed by `extraOutputs` more for the objective).
    public static func checkFit(_ graph: Graph, sampleShape: Shape, classes: Int, extraOutputs: Int = 0) throws {
        guard graph.inputIndices.count == 1, graph.outputs.count == 1 + extraOutputs else {
            throw TrainerError.modelDataMismatch("a classifier has one input and \(1 + extraOutputs) output(s) here; this model has "
                                                 + "\(graph.inputIndices.count) and \(graph.outputs.count)")
        }
        let shapes = try graph.inferShapes()
        let input = shapes[graph.inputIndices[0]], output = shapes[graph.outputs[0]]
        guard input == sampleShape else {
            throw TrainerError.modelDataMismatch("the model takes \(input) images, the data set has \(sampleShape)")
        }
        guard output == Shape([classes]) else {
            throw TrainerError.modelDataMismatch("the model gives \(output) outputs per image, the data set has \(classes) classes")
        }
    }

    /// The dropout seed of `epoch`: every epoch's masks depend on (seed, epoch) only, so a
    /// resumed run draws the same ones.
    static func dropoutSeed(_ seed: UInt64, epoch: Int) -> UInt64 {
        func mix(_ value: UInt64) -> UInt64 {
            var z = value &+ 0x9E37_79B9_7F4A_7C15
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        return mix(mix(seed ^ 0x4452_4F50) ^ UInt64(epoch))  // "DROP"
    }

    /// Optimizer steps in an epoch of `batches` micro-batches, `accumulation` per step (a
    /// short last group gets a step too).
    static func optimizerSteps(batches: Int, accumulation: Int) -> Int {
        (batches + accumulation - 1) / accumulation
    }
}
