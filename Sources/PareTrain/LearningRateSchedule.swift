/// A learning rate as a pure function of a step index, so a resumed run gets exactly the
/// rates of an uninterrupted one.
///
/// What a step is depends on the schedule: ``CosineAnnealing``, ``StepDecay`` and
/// ``MultiStepDecay`` count epochs, like `torch.optim.lr_scheduler` stepped once per
/// epoch in the seeds' recipes; ``OneCycle`` and warm-up count optimizer steps
/// (iterations). ``PerEpochSchedule`` turns an epoch schedule into an iteration schedule,
/// and ``ScheduleSpec/make(baseLR:epochs:stepsPerEpoch:)`` builds the iteration schedule a
/// trainer uses: before optimizer step `s` (0-based, counted over the whole run) it sets
/// `optimizer.learningRate = schedule.learningRate(at: s)`.
///
/// Index `i` gives the rate torch's scheduler sets after `i` calls of `scheduler.step()`
/// (index 0: the rate right after construction). Schedules take their settings as `Double`
/// and compute in double precision, as torch does with Python floats, and round the rate
/// to f32, as torch's optimizers round it; a setting read from text as `Double` (`0.1`)
/// then gives torch's rate to the last bit, where one that passed through `Float` may not.
public protocol LearningRateSchedule: Sendable {
    /// The learning rate for step (or epoch) `step`, counted from 0.
    func learningRate(at step: Int) -> Float
}

/// The same learning rate at every step.
public struct ConstantLearningRate: LearningRateSchedule {
    public let base: Double

    public init(base: Double) { self.base = base }

    public func learningRate(at step: Int) -> Float { Float(base) }
}

/// An epoch schedule read per iteration: iteration `s` gets the rate of epoch
/// `s / stepsPerEpoch`, the rate torch's per-epoch scheduler holds during that epoch.
public struct PerEpochSchedule: LearningRateSchedule {
    public let epochSchedule: any LearningRateSchedule
    public let stepsPerEpoch: Int

    public init(_ epochSchedule: any LearningRateSchedule, stepsPerEpoch: Int) {
        precondition(stepsPerEpoch >= 1, "PerEpochSchedule: invalid steps per epoch \(stepsPerEpoch)")
        self.epochSchedule = epochSchedule
        self.stepsPerEpoch = stepsPerEpoch
    }

    public func learningRate(at step: Int) -> Float { epochSchedule.learningRate(at: step / stepsPerEpoch) }
}
