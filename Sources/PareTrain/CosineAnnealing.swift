#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// Cosine annealing from `base` down to `etaMin` over `tMax` steps (epochs, in the seeds'
/// recipes): torch's `CosineAnnealingLR(optimizer, T_max, eta_min)` in its closed form
/// (`_get_closed_form_lr`),
///
/// ```
/// lr(t) = etaMin + (base - etaMin) * (1 + cos(π t / tMax)) / 2
/// ```
///
/// which, like torch's, rises again after `tMax` (a period of `2 tMax`).
public struct CosineAnnealing: LearningRateSchedule {
    public let base: Double
    public let tMax: Int
    public let etaMin: Double

    public init(base: Double, tMax: Int, etaMin: Double = 0) {
        precondition(tMax >= 1, "CosineAnnealing: invalid tMax \(tMax)")
        self.base = base
        self.tMax = tMax
        self.etaMin = etaMin
    }

    public func learningRate(at step: Int) -> Float {
        Float(etaMin + (base - etaMin) * (1 + cos(Double.pi * Double(step) / Double(tMax))) / 2)
    }
}
