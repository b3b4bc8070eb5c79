import Foundation
import PareAnalysis
import PareCore
import PareData
import PareIO
import PareTrain

/// Progress of a compression, for a display.
public enum CompressionEvent: Sendable {
    case phaseStarted(CompressionPhase, detail: String)
    case sensitivity(SensitivityEvent)
    case training(phase: String, TrainingEvent)
    case pruning(PruningEvent)
    case calibrating(pass: Int, batch: Int, batches: Int)
    case stepFinished(CompressionStep)
    case note(String)
}

/// Shrinks a model to a ``CompressionTarget`` in one resumable run, measuring every step:
///
/// 1. `teacher` (with ``CompressionConfiguration/teacherEpochs``): trains the starting model;
///    it becomes the teacher and the student's starting point.
/// 2. `start`: measures the starting model (step 0, the reference of every ratio).
/// 3. `sensitivity`: every channel group pruned alone at every ratio (``SensitivityAnalysis``).
/// 4. `allocate`: per-group ratios that meet the target on the final model's form
///    (``RatioAllocator``; exact for parameters and MACs, iterated on the measured file size or
///    latency for those targets).
/// 5. `prune`: a ``PruningRun`` reaching the ratios in ``CompressionConfiguration/pruneSteps``
///    steps, each fine-tuned (with distillation from the teacher when the recipe distils).
/// 6. `rewrite` (if the recipe names one) and `finetune` (with ``CompressionConfiguration/finalEpochs``).
/// 7. `quantize`: post-training int8 calibration, then quantisation-aware training when
///    ``CompressionConfiguration/qat`` says (by default: when the int8 model is more than
///    ``CompressionConfiguration/maxDrop`` below the start).
/// 8. `export`: `final.safetensors` and `final.onnx`.
///
/// After every phase `state.json`, `report.json` and `report.html` are rewritten atomically;
/// a killed run continues with ``init(resuming:trainingSet:testSet:)`` (an interrupted training
/// from its last epoch; the temporary files of writes the kill interrupted are deleted). The
/// run stops with ``CompressionError/maxDropExceeded(_:)`` when a step's accuracy is more
/// than ``CompressionConfiguration/maxDrop`` below the start's, and with
/// ``CompressionError/targetNotMet(_:)`` when the target cannot be met; every step's model
/// stays in the directory.
public final class CompressionPipeline {
    public let directory: URL
    public private(set) var state: CompressionState
    public var configuration: CompressionConfiguration { state.configuration }
    public var onEvent: ((CompressionEvent) -> Void)?

    private let trainingSet: any Dataset
    private let testSet: (any Dataset)?
    private var sessionStarted = monotonicClock()

    public static let stateFile = "state.json"

    /// Starts a run on `model` in `directory` (created; it must not hold a run already).
    /// `teacher`: a trained model to distil from; nil: the starting model (trained first when
    /// ``CompressionConfiguration/teacherEpochs`` is set) is the teacher.
    public init(model: Graph, directory: URL, configuration: CompressionConfiguration, trainingSet: any Dataset,
                testSet: (any Dataset)?, teacher: Graph? = nil) throws {
        guard !FileManager.default.fileExists(atPath: directory.appendingPathComponent(Self.stateFile).path) else {
            throw CompressionError.invalidSettings("\(directory.path) holds a compression run already: continue it with --resume or choose another --out")
        }
        try configuration.validate()
        if let node = model.nodes.first(where: { $0.quantization != nil }) {
            throw CompressionError.invalidSettings("the model is already quantised (node '\(node.name)' is int8): compress the f32 model it came from")
        }
        try Trainer.checkFit(model, sampleShape: trainingSet.sampleShape, classes: trainingSet.classes)
        if let teacher {
            do {
                try Trainer.checkFit(teacher, sampleShape: trainingSet.sampleShape, classes: trainingSet.classes)
            } catch {
                throw CompressionError.invalidSettings("the teacher does not fit the data: \(error)")
            }
        }
        if configuration.recipe.prunes {
            guard try ChannelAnalysis(model).groups.contains(where: \.prunable) else {
                throw CompressionError.invalidSettings("the model has no prunable channel group: leave prune out of --recipe")
            }
        }
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try removeInterruptedWrites(in: directory)  // of a start killed before state.json
        self.directory = directory
        self.trainingSet = trainingSet
        self.testSet = testSet
        state = CompressionState(configuration: configuration)
        state.machine = Self.machine(configuration)
        try ModelFile.save(model, to: url("start.safetensors"))
        if let teacher {
            try ModelFile.save(teacher, to: url("teacher.safetensors"))
            state.separateTeacher = true
        }
        state.current = "start.safetensors"
        try save()
    }

    /// Continues the run in `directory` with the same data; `maxDrop` replaces the run's
    /// ``CompressionConfiguration/maxDrop`` (to go on after a stop at that bound).
    public init(resuming directory: URL, trainingSet: any Dataset, testSet: (any Dataset)?, maxDrop: Double? = nil) throws {
        let file = directory.appendingPathComponent(Self.stateFile)
        guard FileManager.default.fileExists(atPath: file.path) else {
            throw CompressionError.invalidSettings("no compression run to resume: \(file.path) does not exist")
        }
        state = try JSONDecoder().decode(CompressionState.self, from: fileContents(file))
        try removeInterruptedWrites(in: directory)
        self.directory = directory
        self.trainingSet = trainingSet
        self.testSet = testSet
        let start = try ModelFile.load(from: directory.appendingPathComponent("start.safetensors"))
        try Trainer.checkFit(start, sampleShape: trainingSet.sampleShape, classes: trainingSet.classes)
        state.outcome = nil
        state.targetMet = nil
        if let maxDrop {
            guard maxDrop >= 0, maxDrop.isFinite else { throw CompressionError.invalidSettings("--max-drop must be a non-negative number of points") }
            state.configuration.maxDrop = maxDrop
        }
    }

    /// The phases this configuration runs, in order.
    public var phases: [CompressionPhase] {
        let c = configuration
        var result: [CompressionPhase] = []
        if c.teacherEpochs != nil { result.append(.teacher) }
        result.append(.start)
        if c.recipe.prunes { result += [.sensitivity, .allocate, .prune] }
        if c.recipe.rewrite != nil { result.append(.rewrite) }
        if (c.finalEpochs ?? 0) > 0 { result.append(.finetune) }
        if c.recipe.quantizes { result.append(.quantize) }
        result.append(.export)
        return result
    }

    /// Runs the remaining phases (or up to and including `stop`); returns the state.
    @discardableResult
    public func run(stoppingAfter stop: CompressionPhase? = nil) throws -> CompressionState {
        sessionStarted = monotonicClock()
        for phase in phases where !state.finished.contains(phase) {
            // A phase that stopped part-way is run again from its own saved progress: its steps
            // are measured again.
            state.steps.removeAll { $0.phase == phase }
            do {
                switch phase {
                case .teacher: try trainTeacher()
                case .start: try measureStart()
                case .sensitivity: try profile()
                case .allocate: try allocate()
                case .prune: try prune()
                case .rewrite: try rewrite()
                case .finetune: try finetune()
                case .quantize: try quantize()
                case .export: try export()
                }
            } catch let error as CompressionError {
                state.outcome = error.description
                state.targetMet = false
                try save()
                throw error
            }
            state.finished.append(phase)
            try save()
            if phase == stop { return state }
        }
        return state
    }

    // MARK: Phases

    private func trainTeacher() throws {
        let epochs = configuration.teacherEpochs!
        onEvent?(.phaseStarted(.teacher, detail: "training the starting model for \(epochs) epochs; it becomes the teacher"))
        let started = monotonicClock()
        let trained = try train(try load("start.safetensors"), phase: .teacher, epochs: epochs, distil: false)
        try ModelFile.save(trained, to: url("teacher.safetensors"))
        try ModelFile.save(trained, to: url("start.safetensors"))
        onEvent?(.note(String(format: "teacher trained in %.0f s", monotonicClock() - started)))
    }

    private func measureStart() throws {
        let start = try load("start.safetensors")
        onEvent?(.phaseStarted(.start, detail: "measuring the starting model"))
        if state.separateTeacher {
            state.teacher = try measure(try loadTeacher(), name: "teacher", phase: .teacher, file: "teacher.safetensors", seconds: 0)
        }
        state.steps = [try measure(start, name: state.separateTeacher ? "start" : "start (teacher)", phase: .start,
                                   file: "start.safetensors", seconds: 0)]
        onEvent?(.stepFinished(state.steps[0]))
        state.widths = try Self.widths(start).map { LayerWidth(name: $0.name, before: $0.width, after: nil) }
    }

    private func profile() throws {
        let c = configuration
        let (subset, name) = evaluationSubset()
        onEvent?(.phaseStarted(.sensitivity, detail: "each channel group pruned alone at ratios "
                               + c.sensitivity.ratios.map { String($0) }.joined(separator: ",") + ", on \(subset.count) \(name) images"))
        var settings = c.sensitivity
        settings.threads = c.training.threads
        settings.seed = c.training.seed
        settings.roundTo = c.allocator.roundTo
        let calibration = settings.criterion.needsData
            ? try CalibrationData.first(settings.calibrationBatches, of: trainingSet, batchSize: 64, transforms: transforms) : nil
        let profile = try SensitivityAnalysis.run(try load(state.current!), evaluation: subset, subset: name, transforms: transforms,
                                                  settings: settings, calibration: calibration) { [weak self] in
            self?.onEvent?(.sensitivity($0))
        }
        state.profile = profile
        try writeAtomically(try Self.encoder.encode(profile), to: url("sensitivity.json"))
        try writeAtomically(Data(profile.plot(title: "sensitivity: accuracy drop per group pruned alone").svg.utf8),
                            to: url("sensitivity.svg"))
    }

    private func allocate() throws {
        let c = configuration
        let start = try load(state.current!)
        let analysis = try ChannelAnalysis(start)
        onEvent?(.phaseStarted(.allocate, detail: "per-group ratios for \(c.target)"))
        func proxyParameters(_ g: Graph) throws -> Double {
            Double(try ModelSummary(graph: c.recipe.quantizes ? try BatchNormFolding.fold(g).graph : g).trainableParameters)
        }
        func macs(_ g: Graph) throws -> Double { Double(try ModelSummary(graph: g).operations.macs) }
        let target = c.target
        var allocation: RatioAllocation
        switch target {
        case let .parameters(n):
            allocation = try allocateOrExplain(start, bound: Double(n), measure: proxyParameters)
        case let .macs(n):
            allocation = try allocateOrExplain(start, bound: Double(n), measure: macs)
        case .bytes, .latency:
            // The proxy (parameters for a size, MACs for a latency) is allocated to a bound that is
            // corrected by the exact figure of the final model's form until it is met.
            let measuresLatency: Bool
            if case .latency = target { measuresLatency = true } else { measuresLatency = false }
            let proxy: (Graph) throws -> Double = measuresLatency ? macs : proxyParameters
            let startExact = target.value(of: try finalFigures(start, latency: measuresLatency))
            var bound = try proxy(start) * target.bound / startExact
            var attempt = 0
            while true {
                attempt += 1
                allocation = try allocateOrExplain(start, bound: bound, measure: proxy)
                let pruned = try RatioAllocator.apply(allocation.ratios, to: analysis, roundTo: c.allocator.roundTo)
                let exact = target.value(of: try finalFigures(pruned, latency: measuresLatency))
                onEvent?(.note(String(format: "allocation %d: %@ %.0f -> %@ %.4g (bound %.4g)", attempt, measuresLatency ? "MACs" : "parameters",
                                      allocation.proxy, target.measure, exact, target.bound)))
                if exact <= target.bound { break }
                guard attempt < 8 else {
                    throw CompressionError.targetNotMet(String(format: "the target (%@) was not met after %d allocations: the closest "
                        + "measured %.4g; ask for a less extreme target", target.description, attempt, exact))
                }
                bound = min(bound * 0.97, bound * target.bound / exact)
            }
        }
        state.allocation = allocation
        try writeAtomically(try Self.encoder.encode(allocation), to: url("allocation.json"))
        onEvent?(.note("ratios: " + allocation.ratios.sorted { $0.key < $1.key }
            .map { String(format: "%@ %.2f", $0.key, $0.value) }.joined(separator: ", ")
            + String(format: " (predicted drop before fine-tuning %.2f points)", allocation.predictedDrop * 100)))
    }

    private func allocateOrExplain(_ graph: Graph, bound: Double, measure: (Graph) throws -> Double) throws -> RatioAllocation {
        do {
            return try RatioAllocator.allocate(graph, profile: state.profile!, bound: bound, settings: configuration.allocator,
                                               measure: measure)
        } catch let error as PruningError {
            throw CompressionError.targetNotMet("\(configuration.target) cannot be met: \(error)")
        }
    }

    private func prune() throws {
        let c = configuration
        guard !state.allocation!.ratios.isEmpty else {
            onEvent?(.note("the starting model meets the target already: nothing is pruned"))
            return
        }
        var p = PruningRunConfiguration()
        p.settings.criterion = c.sensitivity.criterion
        p.settings.ratio = 0
        p.settings.layerRatios = state.allocation!.ratios
        p.settings.roundTo = c.allocator.roundTo
        p.settings.seed = c.training.seed
        p.schedule = c.pruneSteps == 1 ? .oneShot : .steps(count: c.pruneSteps, geometric: false)
        p.finetuneEpochs = c.finetuneEpochs
        p.training = c.training
        p.training.epochs = max(1, c.finetuneEpochs)
        p.calibrationBatches = c.sensitivity.calibrationBatches
        p.benchmark = c.benchmark
        let distils = c.recipe.distills && c.finetuneEpochs > 0
        if distils { p.distillation = c.distillation }
        p.notes = c.notes
        let directory = url("prune")
        onEvent?(.phaseStarted(.prune, detail: "\(c.pruneSteps) step(s), \(c.finetuneEpochs) epoch(s) of "
                               + (distils ? "distillation" : "fine-tuning") + " each"))
        let teacher = distils ? try loadTeacher() : nil
        let run = FileManager.default.fileExists(atPath: directory.appendingPathComponent("run.json").path)
            ? try PruningRun(resuming: directory, trainingSet: trainingSet, testSet: testSet, teacher: teacher)
            : try PruningRun(graph: try load(state.current!), directory: directory, configuration: p, trainingSet: trainingSet,
                             testSet: testSet, teacher: teacher)
        run.onEvent = { [weak self] in self?.onEvent?(.pruning($0)) }
        let records = try run.run()
        let start = state.steps[0]
        for record in records.dropFirst() {
            let step = CompressionStep(
                name: "prune \(record.step)/\(c.pruneSteps)", phase: .prune, precision: "f32",
                figures: ModelFigures(parameters: record.parameters, macs: record.macs, fileBytes: record.fileBytes,
                                      latencyMilliseconds: record.latencyMilliseconds),
                validationAccuracy: record.validationAccuracy, testAccuracy: record.testAccuracy,
                macRatio: Double(start.figures.macs) / Double(max(1, record.macs)),
                measuredSpeedup: start.figures.latencyMilliseconds / max(record.latencyMilliseconds, 1e-9),
                file: "prune/" + record.file, seconds: record.seconds)
            state.steps.append(step)
            onEvent?(.stepFinished(step))
            let summary = directory.appendingPathComponent("step-\(record.step)/summary.json")
            if let data = try? fileContents(summary), let training = try? JSONDecoder().decode(TrainingSummary.self, from: data) {
                setCurve(TrainingCurve(phase: step.name, epochs: training.history))
            }
        }
        state.current = "prune/pruned.safetensors"
        if !phases.contains(.rewrite) && !phases.contains(.finetune) { try checkDrop() }
    }

    private func rewrite() throws {
        let c = configuration
        let kind = c.recipe.rewrite!
        onEvent?(.phaseStarted(.rewrite, detail: "\(kind), then \(c.finetuneEpochs) epoch(s) of "
                               + (c.recipe.distills ? "distillation" : "fine-tuning")))
        let started = monotonicClock()
        var rewrites = RewritePipeline()
        switch kind {
        case "dwpw": rewrites.depthwiseSeparable = true; rewrites.depthwiseBatchNorm = true
        case "svd": rewrites.svd = true
        case "tucker": rewrites.tucker = true
        case "grouped": rewrites.groups = 2
        default: throw CompressionError.invalidSettings("unknown rewrite \(kind)")
        }
        rewrites.measurement = RewriteMeasurement(measureError: false, seed: c.training.seed, threads: c.training.threads)
        let result: RewriteResult
        do {
            result = try rewrites.apply(to: try load(state.current!))
        } catch let error as RewriteError {
            throw CompressionError.invalidSettings("rewrite \(kind): \(error)")
        }
        if result.records.isEmpty {
            onEvent?(.note("rewrite \(kind) changed no layer (" + result.skipped.prefix(3).map { "\($0)" }.joined(separator: "; ") + ")"))
        }
        let tuned = try train(result.graph, phase: .rewrite, epochs: c.finetuneEpochs, distil: c.recipe.distills)
        try ModelFile.save(tuned, to: url("rewrite.safetensors"))
        try record(name: kind, phase: .rewrite, file: "rewrite.safetensors", seconds: monotonicClock() - started)
        if !phases.contains(.finetune) { try checkDrop() }
    }

    private func finetune() throws {
        let c = configuration
        let epochs = c.finalEpochs!
        onEvent?(.phaseStarted(.finetune, detail: "\(epochs) final epoch(s) of " + (c.recipe.distills ? "distillation" : "fine-tuning")))
        let started = monotonicClock()
        let tuned = try train(try load(state.current!), phase: .finetune, epochs: epochs, distil: c.recipe.distills)
        try ModelFile.save(tuned, to: url("finetuned.safetensors"))
        try record(name: "fine-tune", phase: .finetune, file: "finetuned.safetensors", seconds: monotonicClock() - started)
        try checkDrop()
    }

    private func quantize() throws {
        let c = configuration
        onEvent?(.phaseStarted(.quantize, detail: "int8, \(c.calibrationMethod) calibration on \(c.calibrationBatches) batches, "
                               + "\(c.weightBits)-bit weights"))
        let started = monotonicClock()
        let model = try load(state.current!)
        let batches = try calibrationBatches()
        let settings = QuantizationSettings(method: try CalibrationMethod(parsing: c.calibrationMethod), weightBits: c.weightBits,
                                            minimumInputChannels: c.minimumInt8InputChannels ?? 1, threads: c.training.threads,
                                            fuseResidualAdds: c.fuseResidualAdds ?? true)
        var (quantized, _) = try PostTrainingQuantizer(settings: settings).quantize(model, calibration: batches) {
            [weak self] pass, batch, passes in self?.onEvent?(.calibrating(pass: pass, batch: batch, batches: batches.count * passes))
        }
        quantized.metadata["compress.phase"] = "quantize"
        try ModelFile.save(quantized, to: url("int8.safetensors"))
        try record(name: "int8 (\(c.calibrationMethod))", phase: .quantize, file: "int8.safetensors",
                   seconds: monotonicClock() - started)
        if let first = state.steps.first?.selectionAccuracy, let int8 = state.steps.last?.selectionAccuracy,
           c.qat.runs(drop: first - int8, maxDrop: c.maxDrop) {
            try quantizationAware(model, batches: batches, settings: settings, drop: first - int8)
        }
        try checkDrop()
    }

    /// Quantisation-aware training of the f32 `model` (``QuantizationAwareTraining``) in
    /// `DIR/qat/`, converted to `int8-qat.safetensors`: the step after the post-training one.
    private func quantizationAware(_ model: Graph, batches: [Tensor], settings: QuantizationSettings, drop: Double) throws {
        let c = configuration
        let why = c.qat == .always ? "--qat always"
            : String(format: "post-training int8 is %.2f points below the start, beyond --max-drop %.2f", drop * 100, c.maxDrop * 100)
        onEvent?(.note(String(format: "%@: quantisation-aware training for %d epoch(s) at lr %g", why, c.qatEpochs, c.qatLearningRate)))
        let started = monotonicClock()
        let preparation = try QuantizationAwareTraining(settings: settings).prepare(model, calibration: batches)
        var training = c.training
        training.epochs = c.qatEpochs
        training.learningRate = c.qatLearningRate
        training.optimizer = .sgd
        training.weightDecay = 0
        training.schedule = "cosine"
        training.warmupSteps = 0
        training.laterPhases = []
        training.bnSparsity = 0
        training.fakeQuantization = preparation.plan
        let teacher = c.recipe.distills ? (graph: try loadTeacher(), settings: c.distillation) : nil
        let (_, summary) = try FineTuning.run(preparation.graph, directory: url("qat"), configuration: training,
                                              trainingSet: trainingSet, testSet: testSet, teacher: teacher) { [weak self] in
            self?.onEvent?(.training(phase: "qat", $0))
        }
        setCurve(TrainingCurve(phase: "qat", epochs: summary.history))
        var (converted, _) = try QuantizationAwareTraining.convert(checkpoint: RunDirectory(url("qat")).best)
        converted.metadata["compress.phase"] = "quantize (QAT)"
        try ModelFile.save(converted, to: url("int8-qat.safetensors"))
        try record(name: "int8 (QAT)", phase: .quantize, file: "int8-qat.safetensors", seconds: monotonicClock() - started)
    }

    private func export() throws {
        let c = configuration
        onEvent?(.phaseStarted(.export, detail: "final.safetensors and final.onnx"))
        var final = try load(state.current!)
        final.metadata["compress.target"] = c.target.description
        final.metadata["compress.recipe"] = c.recipe.description
        try ModelFile.save(final, to: url("final.safetensors"))
        do {
            try ONNXExport.write(final, to: url("final.onnx"))
        } catch {
            onEvent?(.note("final.onnx not written: \(error)"))
        }
        let after = Dictionary(try Self.widths(final).map { ($0.name, $0.width) }, uniquingKeysWith: { a, _ in a })
        var widths = state.widths.map { LayerWidth(name: $0.name, before: $0.before, after: after[$0.name]) }
        let known = Set(widths.map(\.name))
        widths += try Self.widths(final).filter { !known.contains($0.name) }.map { LayerWidth(name: $0.name, before: nil, after: $0.width) }
        state.widths = widths
        let last = state.steps.last!
        let met = c.target.isMet(by: last.figures)
        state.targetMet = met
        state.outcome = met ? "met" : String(format: "the target (%@) was not met: the final model measures %.4g", c.target.description,
                                             c.target.value(of: last.figures))
        if !met { throw CompressionError.targetNotMet(state.outcome!) }
    }

    // MARK: Helpers

    /// Trains `graph` for `epochs` in `DIR/phase/` (resuming an interrupted training), with
    /// distillation from the teacher if `distil`; returns the best epoch's model.
    private func train(_ graph: Graph, phase: CompressionPhase, epochs: Int, distil: Bool) throws -> Graph {
        guard epochs > 0 else { return graph }
        var training = configuration.training
        training.epochs = epochs
        let teacher = distil ? (graph: try loadTeacher(), settings: configuration.distillation) : nil
        let (trained, summary) = try FineTuning.run(graph, directory: url(phase.rawValue), configuration: training, trainingSet: trainingSet,
                                                    testSet: testSet, teacher: teacher) { [weak self] in
            self?.onEvent?(.training(phase: phase.rawValue, $0))
        }
        setCurve(TrainingCurve(phase: phase.rawValue, epochs: summary.history))
        return trained
    }

    private func setCurve(_ curve: TrainingCurve) {
        state.curves.removeAll { $0.phase == curve.phase }
        state.curves.append(curve)
    }

    private func loadTeacher() throws -> Graph {
        let file = url("teacher.safetensors")
        return try ModelFile.load(from: FileManager.default.fileExists(atPath: file.path) ? file : url("start.safetensors"))
    }

    /// Measures the model saved as `file` (what is on disk, read back) and appends it as a
    /// step; it becomes the current model.
    private func record(name: String, phase: CompressionPhase, file: String, seconds: Double) throws {
        let step = try measure(try load(file), name: name, phase: phase, file: file, seconds: seconds)
        state.steps.append(step)
        state.current = file
        onEvent?(.stepFinished(step))
    }

    private func measure(_ graph: Graph, name: String, phase: CompressionPhase, file: String, seconds: Double) throws -> CompressionStep {
        let summary = try ModelSummary(graph: graph)
        let latency = try LatencyBenchmark.run(graph, name: name, settings: configuration.benchmark).medianMilliseconds
        let bytes = (try FileManager.default.attributesOfItem(atPath: url(file).path)[.size] as? Int) ?? 0
        let evaluator = Evaluator(graph: graph, batchSize: 256, threads: configuration.training.threads)
        let validation = try validationSet().map { try evaluator.evaluate($0, transforms: transforms).top1 }
        let test = try testSet.map { try evaluator.evaluate($0, transforms: transforms).top1 }
        let start = state.steps.first
        let figures = ModelFigures(parameters: summary.trainableParameters, macs: summary.operations.macs, fileBytes: bytes,
                                   latencyMilliseconds: latency)
        return CompressionStep(name: name, phase: phase,
                               precision: graph.nodes.contains { $0.quantization != nil } ? "int8" : "f32",
                               figures: figures, validationAccuracy: validation, testAccuracy: test,
                               macRatio: start.map { Double($0.figures.macs) / Double(max(1, figures.macs)) } ?? 1,
                               measuredSpeedup: start.map { $0.figures.latencyMilliseconds / max(latency, 1e-9) } ?? 1,
                               file: file, seconds: seconds)
    }

    /// Stops the run when the last step lost more than `--max-drop` against the start.
    private func checkDrop() throws {
        let c = configuration
        guard let first = state.steps.first?.selectionAccuracy, let last = state.steps.last,
              let accuracy = last.selectionAccuracy else { return }
        let drop = first - accuracy
        guard drop > c.maxDrop + 1e-12 else { return }
        let set = last.validationAccuracy != nil ? "validation" : "test"
        throw CompressionError.maxDropExceeded(String(format: "%@ cannot be met within --max-drop %.2f points by this recipe: after "
            + "'%@' the %@ accuracy is %.2f%%, %.2f points below the start's %.2f%%. Every step's model is kept in %@; try more "
            + "--finetune-epochs or --final-epochs, more --prune-steps, a larger model or target, or a larger --max-drop",
            c.target.description, c.maxDrop * 100, last.name, set, accuracy * 100, drop * 100, first * 100, directory.path))
    }

    /// The exact figures of `graph`'s final form: quantised (on seeded random calibration data,
    /// which fixes sizes, not accuracy) when the recipe quantises, saved in memory.
    private func finalFigures(_ graph: Graph, latency: Bool) throws -> ModelFigures {
        let c = configuration
        var final = graph
        if c.recipe.quantizes {
            let shape = trainingSet.sampleShape
            var generator = SeededGenerator(seed: c.training.seed &+ 7)
            let batches = (0..<2).map { _ in Tensor.randomNormal(Shape([4] + shape.dimensions), std: 1, generator: &generator) }
            final = try PostTrainingQuantizer(settings: QuantizationSettings(weightBits: c.weightBits,
                                                                             minimumInputChannels: c.minimumInt8InputChannels ?? 1,
                                                                             threads: c.training.threads,
                                                                             fuseResidualAdds: c.fuseResidualAdds ?? true))
                .quantize(graph, calibration: batches).graph
        }
        let summary = try ModelSummary(graph: final)
        return ModelFigures(parameters: summary.trainableParameters, macs: summary.operations.macs,
                            fileBytes: try ModelFile.encodedByteCount(final),
                            latencyMilliseconds: latency ? try LatencyBenchmark.run(final, name: "allocation", settings: c.benchmark)
                                .medianMilliseconds : 0)
    }

    /// The first ``CompressionConfiguration/calibrationBatches`` batches of a seeded shuffle of
    /// the training set, normalised. The loader's epoch (and its prefetching threads) ends
    /// here, before anything is timed.
    private func calibrationBatches() throws -> [Tensor] {
        let c = configuration
        let loader = DataLoader(trainingSet, batchSize: min(c.training.batchSize, 64), shuffle: true, seed: c.training.seed,
                                transforms: transforms)
        let epoch = loader.epoch(0)
        var batches: [Tensor] = []
        while batches.count < c.calibrationBatches, let next = try epoch.next() { batches.append(next.images) }
        return batches
    }

    private var transforms: [any Transform] { configuration.training.normalization.map { [$0 as any Transform] } ?? [] }

    private func validationSet() -> (any Dataset)? {
        let c = configuration.training
        guard c.validationFraction > 0 else { return nil }
        return ValidationSplit(trainingSet, fraction: c.validationFraction, seed: c.seed, stratified: true).validation
    }

    /// The fixed subset the sensitivity profile is evaluated on: the first samples of the
    /// validation split (else of the training set).
    private func evaluationSubset() -> (any Dataset, String) {
        let n = configuration.sensitivitySamples
        if let validation = validationSet() { return (Subset(validation, indices: Array(0..<min(n, validation.count))), "validation") }
        return (Subset(trainingSet, indices: Array(0..<min(n, trainingSet.count))), "training")
    }

    /// Output width of every convolution and linear layer.
    static func widths(_ graph: Graph) throws -> [(name: String, width: Int)] {
        let shapes = try graph.inferShapes()
        return graph.nodes.indices.compactMap { i in
            switch graph.nodes[i].op {
            case .conv2d, .linear: return (graph.nodes[i].name, shapes[i].dimensions[0])  // shapes are per sample
            default: return nil
            }
        }
    }

    static func machine(_ c: CompressionConfiguration) -> [String: String] {
        let features = CPUFeatures.current()
        return ["isa": features.isa, "cores": String(ProcessInfo.processInfo.activeProcessorCount),
                "threads": String(c.benchmark.threads), "batch": String(c.benchmark.batch), "onednn": DNNLEngine.version,
                "int8 weight bits": String(c.weightBits)]
    }

    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return encoder
    }()

    private func save() throws {
        let now = monotonicClock()
        state.seconds += now - sessionStarted
        sessionStarted = now
        try writeAtomically(try Self.encoder.encode(state), to: url(Self.stateFile))
        let report = CompressionReport(state: state, directory: directory.lastPathComponent)
        try writeAtomically(try Self.encoder.encode(report), to: url("report.json"))
        try writeAtomically(Data(ReportPage(report: report).html.utf8), to: url("report.html"))
    }

    private func load(_ file: String) throws -> Graph { try ModelFile.load(from: url(file)) }
    private func url(_ name: String) -> URL { directory.appendingPathComponent(name) }
}
