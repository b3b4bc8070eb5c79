import Foundation
import PareAnalysis
import PareCore
import PareData
import PareIO
import PareTrain

/// Everything that decides what a pruning run computes; saved in `run.json`, so a resumed
/// run continues with the same settings.
public struct PruningRunConfiguration: Codable, Equatable, Sendable {
    public var settings = PruningSettings()
    public var schedule = PruningSchedule.oneShot
    /// Epochs of fine-tuning after every step (0: none); the step keeps the epoch with the best
    /// validation (else test) accuracy.
    public var finetuneEpochs = 0
    /// The fine-tuning's settings (its `epochs` is `finetuneEpochs`), and the data's
    /// normalisation and validation split for evaluation.
    public var training = TrainingConfiguration()
    /// Batches of the training set (in order, normalised, not augmented) the data-driven
    /// criteria run on.
    public var calibrationBatches = 8
    /// Where each step's latency is measured.
    public var benchmark = LatencyBenchmark.Settings(batch: 1, threads: 2, warmup: 5, runs: 20)
    /// A plan to apply as the one step instead of scoring (`pare prune --plan FILE`).
    public var plan: PruningPlan?
    /// Fine-tune every step against a teacher with these settings (`pare prune --teacher`);
    /// nil: plain cross-entropy. The teacher itself is given to the run, not saved in it.
    public var distillation: DistillationSettings?
    /// Free-form facts (the command line records the model and data set).
    public var notes: [String: String] = [:]

    public init() {}
}

/// What every step of a run is measured by (step 0 is the original model).
public struct PruningStepRecord: Codable, Equatable, Sendable {
    public var step: Int
    /// Fraction of the original channels the step's schedule asked to remove.
    public var ratio: Double
    public var removedChannels: Int
    public var parameters: Int
    public var macs: Int
    /// Bytes of the step's native model file.
    public var fileBytes: Int
    /// Median inference latency at the run's benchmark batch and threads.
    public var latencyMilliseconds: Double
    public var validationAccuracy: Double?
    public var testAccuracy: Double?
    /// The step's model file, relative to the run directory.
    public var file: String
    public var seconds: Double

    /// `steps.csv`'s rows, with a header.
    public static func csv(_ records: [PruningStepRecord], batch: Int, threads: Int) -> String {
        func f(_ x: Double?) -> String { x.map { String(format: "%.6f", $0) } ?? "" }
        var lines = ["step,ratio,removed_channels,parameters,macs,file_bytes,latency_ms_batch\(batch)_threads\(threads),"
                     + "validation_accuracy,test_accuracy,file,seconds"]
        for r in records {
            lines.append("\(r.step),\(f(r.ratio)),\(r.removedChannels),\(r.parameters),\(r.macs),\(r.fileBytes),"
                         + "\(f(r.latencyMilliseconds)),\(f(r.validationAccuracy)),\(f(r.testAccuracy)),\(r.file),\(f(r.seconds))")
        }
        return lines.joined(separator: "\n") + "\n"
    }
}

/// Progress of a pruning run, for a display.
public enum PruningEvent: Sendable {
    case measuring(step: Int)
    case stepStarted(step: Int, ratio: Double)
    case training(step: Int, TrainingEvent)
    case stepFinished(PruningStepRecord)
    /// A per-step schedule gave up before its target (the message says why).
    case stopped(String)
}

/// The saved state of a run (`run.json`, rewritten atomically after every step: the commit
/// point of resume).
struct PruningRunState: Codable {
    var configuration: PruningRunConfiguration
    /// Widths of the original model's groups, by ``ChannelGroup/key``.
    var originalUnits: [String: Int]
    /// For every original group, the original unit indices still there.
    var surviving: [String: [Int]]
    var records: [PruningStepRecord]
    var finished: Bool
}

/// Prunes a model step by step as its ``PruningRunConfiguration`` says, fine-tuning between
/// steps, measuring and saving every step, in a run directory it can resume from:
///
/// - `step-0.safetensors` (the original), `step-K.safetensors` (after step K and its
///   fine-tuning), `plan-K.json` (step K's plan, against step K−1's model), `step-K/` (the
///   fine-tuning's checkpoints);
/// - `pruned.safetensors` (the last step's model), `plan.json` (every step's removals as
///   one plan against the original model: `--plan` re-applies it), `steps.csv`,
///   `steps.json`, `run.json` (settings and state).
///
/// A run killed at any point continues with ``init(resuming:trainingSet:testSet:)``: finished
/// steps are kept, an interrupted fine-tuning resumes from its last epoch, and a step
/// whose fine-tuning had not saved an epoch is pruned again from the same plan.
public final class PruningRun {
    public let directory: URL
    public var configuration: PruningRunConfiguration { state.configuration }
    public var onEvent: ((PruningEvent) -> Void)?
    public var records: [PruningStepRecord] { state.records }

    private var state: PruningRunState
    private var current: Graph
    private let trainingSet: (any Dataset)?
    private let testSet: (any Dataset)?
    private let teacher: Graph?

    /// Starts a run on `graph` in `directory` (created; it must not hold a run already).
    /// `teacher` is needed when the configuration distils.
    public init(graph: Graph, directory: URL, configuration: PruningRunConfiguration,
                trainingSet: (any Dataset)?, testSet: (any Dataset)?, teacher: Graph? = nil) throws {
        let stateFile = directory.appendingPathComponent("run.json")
        guard !FileManager.default.fileExists(atPath: stateFile.path) else {
            throw PruningError.invalidSettings("\(directory.path) holds a pruning run already: resume it with --resume or choose another --out")
        }
        try configuration.settings.validate(for: graph)
        if configuration.finetuneEpochs > 0 || configuration.settings.criterion.needsData {
            guard trainingSet != nil else {
                throw PruningError.invalidSettings(configuration.finetuneEpochs > 0
                    ? "fine-tuning needs data: give --data" : "criterion \(configuration.settings.criterion.rawValue) needs calibration data: give --data")
            }
        }
        if let trainingSet { try Trainer.checkFit(graph, sampleShape: trainingSet.sampleShape, classes: trainingSet.classes) }
        try Self.checkTeacher(teacher, configuration: configuration, trainingSet: trainingSet)
        var training = configuration.training
        training.epochs = max(1, configuration.finetuneEpochs)
        try training.validate()
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try removeInterruptedWrites(in: directory)  // of a start killed before run.json
        let analysis = try ChannelAnalysis(graph)
        var originalUnits: [String: Int] = [:], surviving: [String: [Int]] = [:]
        for group in analysis.groups {
            originalUnits[group.key] = group.units
            surviving[group.key] = Array(0..<group.units)
        }
        self.directory = directory
        self.trainingSet = trainingSet
        self.testSet = testSet
        self.teacher = teacher
        current = graph
        state = PruningRunState(configuration: configuration, originalUnits: originalUnits, surviving: surviving,
                                records: [], finished: false)
    }

    /// Continues the run in `directory` with the same data (and the same teacher, when it distils).
    public init(resuming directory: URL, trainingSet: (any Dataset)?, testSet: (any Dataset)?, teacher: Graph? = nil) throws {
        let stateFile = directory.appendingPathComponent("run.json")
        guard FileManager.default.fileExists(atPath: stateFile.path) else {
            throw PruningError.invalidSettings("no pruning run to resume: \(stateFile.path) does not exist")
        }
        state = try JSONDecoder().decode(PruningRunState.self, from: fileContents(stateFile))
        try removeInterruptedWrites(in: directory)
        guard let last = state.records.last else {
            throw PruningError.invalidSettings("\(stateFile.path) records no step")
        }
        current = try ModelFile.load(from: directory.appendingPathComponent(last.file))
        self.directory = directory
        self.trainingSet = trainingSet
        self.testSet = testSet
        self.teacher = teacher
        if let trainingSet { try Trainer.checkFit(current, sampleShape: trainingSet.sampleShape, classes: trainingSet.classes) }
        try Self.checkTeacher(teacher, configuration: state.configuration, trainingSet: trainingSet)
    }

    /// A distilling run needs a teacher that fits the data; a plain one takes none.
    private static func checkTeacher(_ teacher: Graph?, configuration: PruningRunConfiguration, trainingSet: (any Dataset)?) throws {
        guard let settings = configuration.distillation else {
            if teacher != nil { throw PruningError.invalidSettings("a teacher was given but the run does not distil") }
            return
        }
        guard let teacher else { throw PruningError.invalidSettings("the run distils from a teacher: give --teacher") }
        guard configuration.finetuneEpochs > 0 else {
            throw PruningError.invalidSettings("distillation happens while fine-tuning: give --finetune-epochs")
        }
        if let trainingSet {
            try DistillationObjective(teacher: teacher, settings: settings, threads: configuration.training.threads)
                .check(graph: teacher, sampleShape: trainingSet.sampleShape, classes: trainingSet.classes)
        }
    }

    /// Runs the remaining steps, or up to step `stoppingAfterStep`; returns every step's
    /// record so far (step 0 first).
    @discardableResult
    public func run(stoppingAfterStep stop: Int? = nil) throws -> [PruningStepRecord] {
        let started = monotonicClock()
        if state.records.isEmpty {
            onEvent?(.measuring(step: 0))
            let file = "step-0.safetensors"
            try ModelFile.save(current, to: url(file))
            state.records.append(try measure(current, step: 0, ratio: 0, removed: 0, file: file,
                                             seconds: monotonicClock() - started))
            try saveState()
            onEvent?(.stepFinished(state.records[0]))
        }
        var idle = 0
        while !state.finished {
            let step = state.records.count
            if let stop, step > stop { return state.records }
            let c = configuration
            if step > c.schedule.maximumSteps { break }
            if case let .perStep(_, target) = c.schedule,
               target.isMet(parameters: state.records.last!.parameters, macs: state.records.last!.macs) {
                break
            }
            let stepStarted = monotonicClock()
            let ratio = min(c.schedule.cumulativeRatio(step: step, ratio: c.settings.ratio), 0.999)
            onEvent?(.stepStarted(step: step, ratio: ratio))
            let (pruned, plan) = try prune(step: step, ratio: ratio)
            if plan.removedUnits == 0 {
                // Rounding may leave a small step with nothing to remove: it is recorded as it
                // is, and the schedule goes on asking for more (a per-step one gives up after
                // 20 such steps in a row).
                idle += 1
                var record = state.records.last!
                record.step = step
                record.ratio = ratio
                record.removedChannels = 0
                record.seconds = monotonicClock() - stepStarted
                state.records.append(record)
                if case .oneShot = c.schedule { state.finished = true }
                try saveState()
                onEvent?(.stepFinished(record))
                if case .perStep = c.schedule, idle >= 20 || ratio >= 0.999 {
                    onEvent?(.stopped("\(idle) steps in a row (up to ratio \(String(format: "%.3f", ratio))) found nothing "
                                      + "more to remove within the caps and --round-to \(c.settings.roundTo)"))
                    break
                }
                continue
            }
            idle = 0
            let tuned = try finetune(pruned, step: step)
            let file = "step-\(step).safetensors"
            try ModelFile.save(tuned, to: url(file))
            onEvent?(.measuring(step: step))
            let record = try measure(tuned, step: step, ratio: ratio, removed: plan.removedUnits, file: file,
                                     seconds: monotonicClock() - stepStarted)
            try track(plan, analysis: ChannelAnalysis(current))
            current = tuned
            state.records.append(record)
            if case .oneShot = c.schedule { state.finished = true }
            try saveState()
            onEvent?(.stepFinished(record))
        }
        if case let .perStep(_, target) = configuration.schedule,
           !target.isMet(parameters: state.records.last!.parameters, macs: state.records.last!.macs) {
            onEvent?(.stopped("the target \(target) was not reached: the model has \(state.records.last!.parameters) "
                              + "parameters and \(state.records.last!.macs) MACs"))
        }
        state.finished = true
        try saveState()
        try ModelFile.save(current, to: url("pruned.safetensors"))
        return state.records
    }

    /// The composite plan against the original model: every unit removed by any step.
    public var compositePlan: PruningPlan {
        get throws {
            let original = try ChannelAnalysis(try ModelFile.load(from: url("step-0.safetensors")))
            let entries = original.groups.compactMap { group -> PruningPlan.Entry? in
                let alive = Set(state.surviving[group.key] ?? Array(0..<group.units))
                let removed = (0..<group.units).filter { !alive.contains($0) }
                return removed.isEmpty ? nil
                    : PruningPlan.Entry(group: group.id, units: group.units, producers: group.producers, removed: removed)
            }
            var settings = configuration.settings
            settings.ratio = state.records.last?.ratio ?? settings.ratio
            return PruningPlan(settings: ["criterion": settings.criterion.rawValue, "scope": settings.scope.rawValue,
                                          "schedule": configuration.schedule.description,
                                          "steps": String(state.records.count - 1)],
                               entries: entries)
        }
    }

    // MARK: Steps

    /// Step `step`'s pruned model and plan; the plan is saved first, and reused if it is
    /// there (a resumed step prunes the same channels).
    private func prune(step: Int, ratio: Double) throws -> (Graph, PruningPlan) {
        let planFile = url("plan-\(step).json")
        let analysis = try ChannelAnalysis(current)
        if FileManager.default.fileExists(atPath: planFile.path) {
            let plan = try PruningPlan.read(from: planFile)
            return (try ChannelSurgery.apply(plan, analysis: analysis), plan)
        }
        if step == 1, let plan = configuration.plan {
            let pruned = try ChannelSurgery.apply(plan, analysis: analysis)
            try writeAtomically(try plan.jsonData(), to: planFile)
            return (pruned, plan)
        }
        var settings = configuration.settings
        settings.ratio = ratio
        settings.layerRatios = settings.layerRatios.mapValues {
            min(configuration.schedule.cumulativeRatio(step: step, ratio: $0), 0.999)
        }
        if case .perStep = configuration.schedule { settings.layerRatios = [:] }
        let data = try calibration()
        let scores = try ChannelImportance.scores(settings.criterion, analysis: analysis, data: data, seed: settings.seed &+ UInt64(step),
                                                  threads: configuration.training.threads)
        let plan = try PruningPlanner.plan(analysis, scores: scores, settings: settings, originalUnits: state.originalUnits)
        try writeAtomically(try plan.jsonData(), to: planFile)
        return (try ChannelSurgery.apply(plan, analysis: analysis), plan)
    }

    private func calibration() throws -> CalibrationData? {
        guard configuration.settings.criterion.needsData, let trainingSet else { return nil }
        let normalization = configuration.training.normalization.map { [$0 as any Transform] } ?? []
        return try CalibrationData.first(configuration.calibrationBatches, of: trainingSet,
                                         batchSize: min(configuration.training.batchSize, 64), transforms: normalization)
    }

    /// Fine-tunes `graph` (in place, in `step-K/`), resuming an interrupted fine-tuning;
    /// returns the best epoch's model.
    private func finetune(_ graph: Graph, step: Int) throws -> Graph {
        let c = configuration
        guard c.finetuneEpochs > 0, let trainingSet else { return graph }
        var training = c.training
        // The same seed every step: it also draws the validation split, which must stay the one
        // the steps are measured on (and the one the model was trained beside).
        training.epochs = c.finetuneEpochs
        let distillation = c.distillation.flatMap { settings in teacher.map { (graph: $0, settings: settings) } }
        return try FineTuning.run(graph, directory: url("step-\(step)"), configuration: training, trainingSet: trainingSet,
                                  testSet: testSet, teacher: distillation) { [weak self] event in
            self?.onEvent?(.training(step: step, event))
        }.graph
    }

    private func measure(_ graph: Graph, step: Int, ratio: Double, removed: Int, file: String,
                         seconds: Double) throws -> PruningStepRecord {
        let summary = try ModelSummary(graph: graph)
        let latency = try LatencyBenchmark.run(graph, name: "step \(step)", settings: configuration.benchmark)
        var validation: Double?, test: Double?
        if let trainingSet {
            let c = configuration.training
            let evaluator = Evaluator(graph: graph, batchSize: 256, threads: c.threads)
            let transforms = c.normalization.map { [$0 as any Transform] } ?? []
            if c.validationFraction > 0 {
                let split = ValidationSplit(trainingSet, fraction: c.validationFraction, seed: c.seed, stratified: true)
                validation = try evaluator.evaluate(split.validation, transforms: transforms).top1
            }
            test = try testSet.map { try evaluator.evaluate($0, transforms: transforms).top1 }
        }
        let bytes = (try? FileManager.default.attributesOfItem(atPath: url(file).path)[.size] as? Int) ?? nil
        return PruningStepRecord(step: step, ratio: ratio, removedChannels: removed, parameters: summary.trainableParameters,
                                 macs: summary.operations.macs, fileBytes: try bytes ?? ModelFile.encodedByteCount(graph),
                                 latencyMilliseconds: latency.medianMilliseconds, validationAccuracy: validation,
                                 testAccuracy: test, file: file, seconds: seconds)
    }

    /// Records which original units `plan` (against `analysis`, the model before the step) removed.
    private func track(_ plan: PruningPlan, analysis: ChannelAnalysis) throws {
        for entry in plan.entries {
            let key = analysis.groups[entry.group].key
            guard var alive = state.surviving[key] else { continue }
            let gone = Set(entry.removed)
            alive = alive.enumerated().filter { !gone.contains($0.offset) }.map(\.element)
            state.surviving[key] = alive
        }
    }

    private func saveState() throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        try writeAtomically(try encoder.encode(state), to: url("run.json"))
        try writeAtomically(try encoder.encode(state.records), to: url("steps.json"))
        let b = configuration.benchmark
        try writeAtomically(Data(PruningStepRecord.csv(state.records, batch: b.batch, threads: b.threads).utf8),
                            to: url("steps.csv"))
        if state.records.count > 0 { try writeAtomically(try compositePlan.jsonData(), to: url("plan.json")) }
        if state.records.contains(where: { $0.validationAccuracy ?? $0.testAccuracy != nil }) {
            let plot = Self.accuracyPlot([(configuration.settings.criterion.rawValue, state.records)],
                                         title: "\(current.metadata["model"] ?? configuration.notes["model"] ?? "model"): accuracy against parameters")
            try writeAtomically(Data(plot.svg.utf8), to: url("accuracy-vs-parameters.svg"))
        }
    }

    /// Validation (else test) accuracy against parameters, one line per run.
    public static func accuracyPlot(_ runs: [(label: String, records: [PruningStepRecord])], title: String) -> LinePlot {
        let validation = runs.contains { $0.records.contains { $0.validationAccuracy != nil } }
        return LinePlot(title: title, xLabel: "trainable parameters",
                        yLabel: (validation ? "validation" : "test") + " accuracy (%)",
                        series: runs.map { run in
                            LinePlot.Series(label: run.label, points: run.records.compactMap { r in
                                (validation ? r.validationAccuracy : r.testAccuracy).map { (Double(r.parameters), $0 * 100) }
                            })
                        })
    }

    private func url(_ name: String) -> URL { directory.appendingPathComponent(name) }
}
