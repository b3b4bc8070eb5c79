#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// The rate multiplied by `gamma` every `stepSize` steps (epochs, in the seeds' recipes):
/// torch's `StepLR(optimizer, step_size, gamma)`, `lr(t) = base * gamma^(t / stepSize)`
/// with integer division.
public struct StepDecay: LearningRateSchedule {
    public let base: Double
    public let stepSize: Int
    public let gamma: Double

    public init(base: Double, stepSize: Int, gamma: Double = 0.1) {
        precondition(stepSize >= 1, "StepDecay: invalid step size \(stepSize)")
        self.base = base
        self.stepSize = stepSize
        self.gamma = gamma
    }

    public func learningRate(at step: Int) -> Float {
        Float(base * pow(gamma, Double(step / stepSize)))
    }
}
