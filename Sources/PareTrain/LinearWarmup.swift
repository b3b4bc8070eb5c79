/// A linear warm-up, then another schedule: torch's
/// `SequentialLR(optimizer, [LinearLR(optimizer, start_factor, total_iters=warmupSteps), after],
/// milestones=[warmupSteps])`.
///
/// With `target = after.learningRate(at: 0)` (the base rate of every decay schedule here,
/// read back from f32, so a warm-up rate can differ from torch's in its last bit):
///
/// ```
/// lr(t) = target * (startFactor + (1 - startFactor) * t / warmupSteps)   t < warmupSteps
/// lr(t) = after.learningRate(at: t - warmupSteps)                        t ≥ warmupSteps
/// ```
///
/// so `after` starts from its own step 0 when the warm-up ends, as in `SequentialLR`. Steps
/// are those of `after`; ``ScheduleSpec`` warms up per iteration.
public struct LinearWarmup: LearningRateSchedule {
    public let after: any LearningRateSchedule
    public let warmupSteps: Int
    public let startFactor: Double

    /// `startFactor` defaults to torch's `LinearLR` default, 1/3.
    public init(wrapping after: any LearningRateSchedule, warmupSteps: Int, startFactor: Double = 1.0 / 3) {
        precondition(warmupSteps >= 0, "LinearWarmup: invalid warm-up steps \(warmupSteps)")
        precondition(startFactor > 0 && startFactor <= 1, "LinearWarmup: start factor \(startFactor) not in (0, 1]")
        self.after = after
        self.warmupSteps = warmupSteps
        self.startFactor = startFactor
    }

    public func learningRate(at step: Int) -> Float {
        guard step < warmupSteps else { return after.learningRate(at: step - warmupSteps) }
        let factor = startFactor + (1 - startFactor) * Double(step) / Double(warmupSteps)
        return Float(Double(after.learningRate(at: 0)) * factor)
    }
}
