import Foundation
import PareCore

/// Per-group pruning ratios chosen to meet a size target.
public struct RatioAllocation: Codable, Equatable, Sendable {
    /// Fraction of each group's channels to remove, by the group's first producer (the
    /// pattern ``PruningSettings/layerRatios`` takes); groups left whole are absent.
    public var ratios: [String: Double]
    /// The sum of the profile's accuracy drops at those ratios (a fraction; fine-tuning
    /// recovers much of it).
    public var predictedDrop: Double
    /// The allocator's measure of the model pruned by ``ratios`` and the bound it met.
    public var proxy: Double
    public var proxyBound: Double
}

/// Spreads a target over channel groups by their sensitivity: starting from nothing removed,
/// it repeatedly raises the ratio of the group that buys the most reduction of the measure
/// per point of predicted accuracy drop (the profile's drop, interpolated), until the pruned
/// model's measure is at most the bound. Ratios move in steps of ``Settings/step`` (skipping
/// steps that rounding to ``Settings/roundTo`` makes empty), never above ``Settings/maxRatio``.
/// Then, since the last step usually overshoots, it lowers again the ratio whose lowering saves
/// the most predicted drop while the bound still holds, until none can be lowered.
public enum RatioAllocator {
    public struct Settings: Codable, Equatable, Sendable {
        public var step = 0.05
        public var maxRatio = 0.9
        public var roundTo = 8
        /// Added to every drop so that free reductions are still ranked by their size.
        public var dropFloor = 0.001
        public init() {}
    }

    /// The allocation for `graph`, or nil when even every group at ``Settings/maxRatio``
    /// leaves `measure` above `bound` (then the error names the smallest value reached).
    public static func allocate(_ graph: Graph, profile: SensitivityProfile, bound: Double, settings: Settings = Settings(),
                                measure: (Graph) throws -> Double) throws -> RatioAllocation {
        let analysis = try ChannelAnalysis(graph)
        let groups = profile.groups.filter { group in analysis.groups.contains { $0.key == group.key && $0.prunable } }
        var rounding = PruningSettings()
        rounding.roundTo = settings.roundTo
        var ratios: [String: Double] = [:]
        var current = try measure(graph)
        while current > bound {
            var best: (name: String, ratio: Double, value: Double, score: Double)?
            for group in groups {
                let now = ratios[group.name] ?? 0
                var next = Self.tidy(now + settings.step)
                while next <= settings.maxRatio + 1e-9,
                      rounding.keptUnits(group.units, ratio: next) == rounding.keptUnits(group.units, ratio: now) {
                    next = Self.tidy(next + settings.step)
                }
                guard next <= settings.maxRatio + 1e-9 else { continue }
                var trial = ratios
                trial[group.name] = next
                let value = try measure(try apply(trial, to: analysis, roundTo: settings.roundTo))
                let cost = max(0, profile.drop(group, at: next) - profile.drop(group, at: now)) + settings.dropFloor
                let score = (current - value) / cost
                let bestScore = best?.score ?? -Double.infinity
                if value < current && score > bestScore { best = (name: group.name, ratio: next, value: value, score: score) }
            }
            guard let best else {
                throw PruningError.invalidSettings(String(format: "the target cannot be met by channel pruning: with every group at "
                    + "the largest ratio (%.2f) the model still measures %.0f, above %.0f", settings.maxRatio, current, bound))
            }
            ratios[best.name] = best.ratio
            current = best.value
        }
        // Rounding makes the last step overshoot the bound; spend the slack back: lower the ratio
        // that saves the most predicted drop while the model still meets the bound.
        var improved = true
        while improved {
            improved = false
            var best: (name: String, ratio: Double, value: Double, saved: Double)?
            for group in groups {
                guard let now = ratios[group.name], now > 0 else { continue }
                var lower = max(0, Self.tidy(now - settings.step))
                while lower > 0, rounding.keptUnits(group.units, ratio: lower) == rounding.keptUnits(group.units, ratio: now) {
                    lower = max(0, Self.tidy(lower - settings.step))
                }
                var trial = ratios
                trial[group.name] = lower > 1e-9 ? lower : nil
                let value = try measure(try apply(trial, to: analysis, roundTo: settings.roundTo))
                let saved = profile.drop(group, at: now) - profile.drop(group, at: lower)
                // Ties (no predicted saving) go to the lowering that uses more of the budget.
                let better = best.map { saved > $0.saved || (saved == $0.saved && value > $0.value) } ?? true
                if value <= bound, better { best = (name: group.name, ratio: lower, value: value, saved: saved) }
            }
            if let best {
                ratios[best.name] = best.ratio > 1e-9 ? best.ratio : nil
                current = best.value
                improved = true
            }
        }
        let drop = groups.reduce(0.0) { $0 + profile.drop($1, at: ratios[$1.name] ?? 0) }
        return RatioAllocation(ratios: ratios, predictedDrop: drop, proxy: current, proxyBound: bound)
    }

    /// `x` rounded to 1e-9: repeated steps of 0.05 give 0.5, not 0.49999999999999994.
    static func tidy(_ x: Double) -> Double { (x * 1e9).rounded() / 1e9 }

    /// `analysis`'s graph with each named group losing its ratio of channels (which ones does
    /// not matter for sizes: the lowest-numbered).
    public static func apply(_ ratios: [String: Double], to analysis: ChannelAnalysis, roundTo: Int = 8) throws -> Graph {
        guard !ratios.isEmpty else { return analysis.graph }
        var settings = PruningSettings()
        settings.ratio = 0
        settings.layerRatios = ratios
        settings.roundTo = roundTo
        let scores: [[Double]?] = analysis.groups.map { $0.prunable ? [Double](repeating: 0, count: $0.units) : nil }
        return try ChannelSurgery.apply(try PruningPlanner.plan(analysis, scores: scores, settings: settings), analysis: analysis)
    }
}
