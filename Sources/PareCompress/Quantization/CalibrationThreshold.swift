import Foundation

/// The magnitude an activation's largest 8-bit level stands for, chosen from what
/// calibration saw by one of the ``CalibrationMethod``s.
///
/// `unsigned` activations (never negative: after a ReLU) use 255 levels of `x`, signed ones
/// 127 levels of `|x|` each side (symmetric, zero point 0).
public enum CalibrationThreshold {
    public static func bound(of histogram: ActivationHistogram, method: CalibrationMethod, unsigned: Bool) -> Float {
        let largest = unsigned ? max(histogram.maximum, 0) : histogram.magnitude
        guard largest > 0, largest.isFinite else { return largest.isFinite ? largest : 0 }
        let total = histogram.bins.reduce(0, +)
        guard method.needsHistogram, total > 0, histogram.bound > 0 else { return largest }
        let edge: Int
        switch method {
        case .minMax: return largest
        case let .percentile(p): edge = percentileEdge(histogram.bins, total: total, percent: p)
        case .entropy: edge = entropyEdge(histogram.bins, levels: unsigned ? 256 : 128)
        case .mse: edge = mseEdge(histogram.bins, binWidth: histogram.binWidth, maxLevel: unsigned ? 255 : 127)
        }
        return min(Float(Double(edge) * histogram.binWidth), largest)
    }

    /// The upper edge (in bins) below which `percent` of the counts lie.
    static func percentileEdge(_ bins: [Double], total: Double, percent: Double) -> Int {
        let target = total * percent / 100
        var cumulative = 0.0
        for (k, count) in bins.enumerated() {
            cumulative += count
            if cumulative >= target { return k + 1 }
        }
        return bins.count
    }

    /// TensorRT's entropy calibration: for each candidate edge `i` (at least `levels` bins),
    /// the reference distribution is the first `i` bins with everything beyond added to the
    /// last; the candidate is those bins merged into `levels` groups, each group's count
    /// spread evenly over its non-empty bins. The edge with the smallest KL(reference ‖
    /// candidate) wins.
    static func entropyEdge(_ bins: [Double], levels: Int) -> Int {
        let n = bins.count
        guard n > levels else { return n }
        var suffix = [Double](repeating: 0, count: n + 1)
        for k in stride(from: n - 1, through: 0, by: -1) { suffix[k] = suffix[k + 1] + bins[k] }
        var bestEdge = n, bestDivergence = Double.infinity
        var candidate = [Double](repeating: 0, count: n)
        for i in levels...n {
            // Candidate: the first i bins merged into `levels` groups.
            for j in 0..<levels {
                let start = j * i / levels, end = (j + 1) * i / levels
                var sum = 0.0, nonEmpty = 0
                for k in start..<end where bins[k] > 0 { sum += bins[k]; nonEmpty += 1 }
                let share = nonEmpty > 0 ? sum / Double(nonEmpty) : 0
                for k in start..<end { candidate[k] = bins[k] > 0 ? share : 0 }
            }
            let referenceTotal = suffix[0]  // the first i bins plus the clipped mass
            let candidateTotal = suffix[0] - suffix[i]
            guard candidateTotal > 0 else { continue }
            var divergence = 0.0
            for k in 0..<i {
                let p = (k == i - 1 ? bins[k] + suffix[i] : bins[k]) / referenceTotal
                guard p > 0 else { continue }
                let q = candidate[k] / candidateTotal
                divergence += p * log(p / max(q, 1e-12))
            }
            if divergence < bestDivergence {
                bestDivergence = divergence
                bestEdge = i
            }
        }
        return bestEdge
    }

    /// The edge whose quantisation (scale = edge / maxLevel, values beyond clipped) gives the
    /// smallest squared error summed over the histogram, each bin at its centre.
    static func mseEdge(_ bins: [Double], binWidth: Double, maxLevel: Double) -> Int {
        let n = bins.count
        var bestEdge = n, bestError = Double.infinity
        let step = max(1, n / 512)
        for edge in stride(from: step, through: n, by: step) {
            let scale = Double(edge) * binWidth / maxLevel
            var error = 0.0
            for (k, count) in bins.enumerated() where count > 0 {
                let x = (Double(k) + 0.5) * binWidth
                let q = min((x / scale).rounded(.toNearestOrEven), maxLevel) * scale
                error += count * (x - q) * (x - q)
            }
            if error < bestError {
                bestError = error
                bestEdge = edge
            }
        }
        return bestEdge
    }
}
