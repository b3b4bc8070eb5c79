/// A learning-rate schedule as named on the command line, before the base rate, the epoch
/// count and the steps per epoch are known.
///
/// Units, as in the seeds' recipes: `cosine`, `step` and `multistep` change the rate once
/// per epoch (their step sizes and milestones are epochs); `onecycle` and the warm-up
/// change it every iteration (the warm-up length is in iterations).
public enum ScheduleSpec: Equatable, Sendable {
    /// The base rate throughout.
    case constant
    /// ``CosineAnnealing`` with `tMax` = the number of epochs, per epoch.
    case cosine(etaMin: Double = 0)
    /// ``StepDecay`` every `stepSize` epochs.
    case step(stepSize: Int, gamma: Double = 0.1)
    /// ``MultiStepDecay`` at the given epochs.
    case multiStep(milestones: [Int], gamma: Double = 0.1)
    /// ``OneCycle`` peaking at the base rate, over all iterations of the run.
    case oneCycle(pctStart: Double = 0.3, divFactor: Double = 25, finalDivFactor: Double = 1e4)
    /// ``LinearWarmup`` over `steps` iterations, then `then` (which starts at its own step 0).
    indirect case warmup(steps: Int, startFactor: Double, then: ScheduleSpec)

    /// The names ``parseSchedule(_:warmupSteps:warmupStartFactor:)`` accepts, for help texts.
    public static let names = ["constant", "cosine", "step", "multistep", "onecycle"]

    /// The syntax ``parseSchedule(_:warmupSteps:warmupStartFactor:)`` accepts, for help texts and errors.
    public static let syntax = """
        constant | cosine[:eta_min=X] | step:EPOCHS[,gamma=X] | multistep:EPOCH,EPOCH...[,gamma=X] | \
        onecycle[:pct_start=X,div_factor=X,final_div_factor=X]
        """

    /// The per-iteration schedule of a run of `epochs` epochs of `stepsPerEpoch` optimizer
    /// steps with base (or, for one-cycle, peak) rate `baseLR`: the trainer sets
    /// `optimizer.learningRate = schedule.learningRate(at: s)` before step `s` of the run.
    public func make(baseLR: Double, epochs: Int, stepsPerEpoch: Int) throws -> any LearningRateSchedule {
        guard baseLR >= 0, baseLR.isFinite else { throw ScheduleError.invalid("learning rate \(baseLR)") }
        guard epochs >= 1, stepsPerEpoch >= 1 else {
            throw ScheduleError.invalid("a schedule needs at least one epoch of one step, got \(epochs) x \(stepsPerEpoch)")
        }
        switch self {
        case .constant:
            return ConstantLearningRate(base: baseLR)
        case let .cosine(etaMin):
            return PerEpochSchedule(CosineAnnealing(base: baseLR, tMax: epochs, etaMin: etaMin), stepsPerEpoch: stepsPerEpoch)
        case let .step(stepSize, gamma):
            guard stepSize >= 1 else { throw ScheduleError.invalid("step size \(stepSize)") }
            return PerEpochSchedule(StepDecay(base: baseLR, stepSize: stepSize, gamma: gamma), stepsPerEpoch: stepsPerEpoch)
        case let .multiStep(milestones, gamma):
            return PerEpochSchedule(MultiStepDecay(base: baseLR, milestones: milestones, gamma: gamma),
                                    stepsPerEpoch: stepsPerEpoch)
        case let .oneCycle(pctStart, divFactor, finalDivFactor):
            guard pctStart >= 0, pctStart <= 1, divFactor > 0, finalDivFactor > 0 else {
                throw ScheduleError.invalid("onecycle pct_start \(pctStart), div factors \(divFactor), \(finalDivFactor)")
            }
            return OneCycle(maxLR: baseLR, totalSteps: epochs * stepsPerEpoch, pctStart: pctStart, divFactor: divFactor,
                            finalDivFactor: finalDivFactor)
        case let .warmup(steps, startFactor, then):
            guard steps >= 0, startFactor > 0, startFactor <= 1 else {
                throw ScheduleError.invalid("warm-up of \(steps) steps from factor \(startFactor)")
            }
            return LinearWarmup(wrapping: try then.make(baseLR: baseLR, epochs: epochs, stepsPerEpoch: stepsPerEpoch),
                                warmupSteps: steps, startFactor: startFactor)
        }
    }
}

/// Parses a schedule as named on the command line, `NAME[:ARGUMENTS]` (see
/// ``ScheduleSpec/syntax``), e.g. `cosine`, `step:30,gamma=0.5`,
/// `multistep:100,150`, `onecycle:pct_start=0.25`, and wraps it in a linear warm-up of
/// `warmupSteps` iterations when that is not 0.
public func parseSchedule(_ text: String, warmupSteps: Int = 0,
                          warmupStartFactor: Double = 1.0 / 3) throws -> ScheduleSpec {
    guard warmupSteps >= 0 else { throw ScheduleError.invalid("warm-up of \(warmupSteps) steps") }
    guard warmupStartFactor > 0, warmupStartFactor <= 1 else {
        throw ScheduleError.invalid("warm-up start factor \(warmupStartFactor) not in (0, 1]")
    }
    let parts = text.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
    let name = parts[0].lowercased()
    var positional: [String] = []
    var named: [String: String] = [:]
    if parts.count == 2 {
        for argument in parts[1].split(separator: ",", omittingEmptySubsequences: false) {
            let pair = argument.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            if pair.count == 2 { named[String(pair[0])] = String(pair[1]) } else { positional.append(String(argument)) }
        }
    }
    func number(_ key: String, default value: Double) throws -> Double {
        guard let text = named.removeValue(forKey: key) else { return value }
        guard let parsed = Double(text), parsed.isFinite else {
            throw ScheduleError.invalid("\(name): \(key)=\(text) is not a number")
        }
        return parsed
    }
    func epochs(_ texts: [String]) throws -> [Int] {
        try texts.map { text in
            guard let epoch = Int(text), epoch >= 0 else {
                throw ScheduleError.invalid("\(name): '\(text)' is not an epoch number")
            }
            return epoch
        }
    }
    let spec: ScheduleSpec
    switch name {
    case "constant":
        spec = .constant
    case "cosine":
        spec = .cosine(etaMin: try number("eta_min", default: 0))
    case "step":
        let sizes = try epochs(positional)
        positional = []
        guard sizes.count == 1, sizes[0] >= 1 else {
            throw ScheduleError.invalid("step needs one step size in epochs ≥ 1, as in step:30")
        }
        spec = .step(stepSize: sizes[0], gamma: try number("gamma", default: 0.1))
    case "multistep":
        let milestones = try epochs(positional)
        positional = []
        guard !milestones.isEmpty else { throw ScheduleError.invalid("multistep needs milestones, as in multistep:100,150") }
        spec = .multiStep(milestones: milestones, gamma: try number("gamma", default: 0.1))
    case "onecycle":
        let pctStart = try number("pct_start", default: 0.3)
        guard pctStart >= 0, pctStart <= 1 else { throw ScheduleError.invalid("onecycle: pct_start \(pctStart) not in [0, 1]") }
        let divFactor = try number("div_factor", default: 25), finalDivFactor = try number("final_div_factor", default: 1e4)
        guard divFactor > 0, finalDivFactor > 0 else { throw ScheduleError.invalid("onecycle: div factors must be > 0") }
        spec = .oneCycle(pctStart: pctStart, divFactor: divFactor, finalDivFactor: finalDivFactor)
    default:
        throw ScheduleError.invalid("unknown schedule '\(parts[0])'")
    }
    if let extra = positional.first ?? named.keys.sorted().first {
        throw ScheduleError.invalid("\(name): unexpected argument '\(extra)'")
    }
    return warmupSteps == 0 ? spec : .warmup(steps: warmupSteps, startFactor: warmupStartFactor, then: spec)
}

/// A schedule that cannot be parsed or built.
public enum ScheduleError: Error, Equatable, CustomStringConvertible {
    case invalid(String)

    public var description: String {
        switch self {
        case let .invalid(reason): return "schedule: \(reason) (expected \(ScheduleSpec.syntax))"
        }
    }
}
