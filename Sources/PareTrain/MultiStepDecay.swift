#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// The rate multiplied by `gamma` at each milestone (epochs, in the seeds' recipes): torch's
/// `MultiStepLR(optimizer, milestones, gamma)`, `lr(t) = base * gamma^k` with `k` the
/// number of milestones ≤ t (a milestone listed twice counts twice).
public struct MultiStepDecay: LearningRateSchedule {
    public let base: Double
    /// Sorted.
    public let milestones: [Int]
    public let gamma: Double

    public init(base: Double, milestones: [Int], gamma: Double = 0.1) {
        self.base = base
        self.milestones = milestones.sorted()
        self.gamma = gamma
    }

    public func learningRate(at step: Int) -> Float {
        let passed = milestones.prefix { $0 <= step }.count
        return Float(base * pow(gamma, Double(passed)))
    }
}
