/// What calibration records of one activation: its extremes, and a histogram of magnitudes
/// `|x|` over `[0, bound]` in equal bins (the range fixed by a first pass, as onnxruntime's
/// calibrators do). Exact zeros are left out of the histogram: every scale represents them
/// exactly, and after a ReLU they are often half the values, a spike in the first bin that
/// the entropy method's merged bins would smear and so mistake for information lost at any
/// wide range (it then clipped every post-ReLU tensor of a ResNet-20 to a quarter of its range).
public struct ActivationHistogram: Hashable, Sendable {
    public private(set) var minimum = Float.infinity
    public private(set) var maximum = -Float.infinity
    /// Counts per bin of `|x|`; bin `k` covers `[k, k+1) · bound / bins.count`.
    public private(set) var bins: [Double]
    /// The histogram's upper edge (the largest magnitude of the first pass).
    public let bound: Float

    public init(bound: Float, binCount: Int = 2048) {
        self.bound = bound
        self.bins = [Double](repeating: 0, count: binCount)
    }

    /// A histogram made directly from counts (tests, or merged histograms).
    public init(bins: [Double], bound: Float, minimum: Float, maximum: Float) {
        self.bins = bins
        self.bound = bound
        self.minimum = minimum
        self.maximum = maximum
    }

    /// Largest magnitude seen.
    public var magnitude: Float { max(abs(minimum), abs(maximum)) }

    public var binWidth: Double { Double(bound) / Double(bins.count) }

    /// Adds values: extremes always, the histogram when it has a positive bound.
    public mutating func add(_ values: UnsafeBufferPointer<Float>) {
        var low = minimum, high = maximum
        let count = bins.count
        let perUnit = bound > 0 ? Double(count) / Double(bound) : 0
        for x in values {
            low = min(low, x)
            high = max(high, x)
            if perUnit > 0 && x != 0 {
                let k = min(Int(Double(abs(x)) * perUnit), count - 1)
                bins[k] += 1
            }
        }
        minimum = low
        maximum = high
    }

    /// Extremes only (the first pass).
    public mutating func addExtremes(_ values: UnsafeBufferPointer<Float>) {
        var low = minimum, high = maximum
        for x in values { low = min(low, x); high = max(high, x) }
        minimum = low
        maximum = high
    }
}
