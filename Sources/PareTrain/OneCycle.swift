#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// The 1cycle policy (Smith & Topin), per iteration: torch's `OneCycleLR(optimizer, max_lr,
/// total_steps, pct_start, anneal_strategy="cos", div_factor, final_div_factor,
/// three_phase=False)`. The rate rises from `maxLR / divFactor` to `maxLR` over the first
/// `pctStart * totalSteps - 1` steps, then falls to `maxLR / divFactor / finalDivFactor` at
/// step `totalSteps - 1`, both by cosine annealing.
///
/// Deviations: momentum is not cycled (torch's `cycle_momentum=False`; the rates are the
/// same either way); a step past `totalSteps`, where torch raises, gets the rate of
/// `totalSteps`; a first phase of zero length (`pctStart * totalSteps == 1`), where torch
/// divides by zero, gives `maxLR` at step 0.
public struct OneCycle: LearningRateSchedule {
    public let maxLR: Double
    public let totalSteps: Int
    public let pctStart: Double
    public let divFactor: Double
    public let finalDivFactor: Double

    public init(maxLR: Double, totalSteps: Int, pctStart: Double = 0.3, divFactor: Double = 25,
                finalDivFactor: Double = 1e4) {
        precondition(totalSteps >= 1, "OneCycle: invalid total steps \(totalSteps)")
        precondition(pctStart >= 0 && pctStart <= 1, "OneCycle: pctStart \(pctStart) not in [0, 1]")
        precondition(divFactor > 0 && finalDivFactor > 0, "OneCycle: invalid div factors \(divFactor), \(finalDivFactor)")
        self.maxLR = maxLR
        self.totalSteps = totalSteps
        self.pctStart = pctStart
        self.divFactor = divFactor
        self.finalDivFactor = finalDivFactor
    }

    public func learningRate(at step: Int) -> Float {
        let initial = maxLR / divFactor
        let minimum = initial / finalDivFactor
        let warmupEnd = pctStart * Double(totalSteps) - 1
        let t = Double(min(step, totalSteps))
        let (start, end, from, to) = t <= warmupEnd ? (0, warmupEnd, initial, maxLR)
                                                    : (warmupEnd, Double(totalSteps - 1), maxLR, minimum)
        let fraction = end == start ? 1 : (t - start) / (end - start)
        return Float(to + (from - to) / 2.0 * (cos(Double.pi * fraction) + 1))
    }
}
