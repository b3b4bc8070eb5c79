import Foundation
import PareAnalysis
import PareCore
import PareData
import PareTrain

/// How much each channel group's removal alone costs: every prunable group pruned by itself at
/// every ratio (no fine-tuning), the accuracy on a fixed evaluation subset recorded. What
/// ``RatioAllocator`` spreads a compression target by.
public struct SensitivityProfile: Codable, Equatable, Sendable {
    public struct Group: Codable, Equatable, Sendable {
        /// ``ChannelGroup/key`` (its producers joined by commas) and the first producer's name.
        public var key: String
        public var name: String
        public var units: Int
        /// Accuracy (fraction) at each of the profile's ratios, in the same order.
        public var accuracy: [Double]
        /// Trainable parameters of the whole model with only this group pruned, per ratio.
        public var parameters: [Int]
    }

    public var criterion: String
    public var ratios: [Double]
    /// Samples of the evaluation subset and where it came from ("validation split", "test set").
    public var samples: Int
    public var subset: String
    /// Accuracy of the unpruned model on that subset.
    public var baseline: Double
    public var baselineParameters: Int
    public var groups: [Group]
    public var seconds: Double

    /// Accuracy drop (points of a fraction: 0.01 = one percent) of `group` at `ratio`,
    /// interpolated linearly between the profile's ratios (0 at ratio 0, the last ratio's drop
    /// beyond it); never negative, and never smaller at a larger ratio (an accuracy that
    /// recovers by chance at a larger ratio does not make that ratio look cheaper).
    public func drop(_ group: Group, at ratio: Double) -> Double {
        guard ratio > 0 else { return 0 }
        var previous = (ratio: 0.0, drop: 0.0)
        for (r, a) in zip(ratios, group.accuracy) {
            let d = max(previous.drop, baseline - a)
            if ratio <= r {
                let t = (ratio - previous.ratio) / max(r - previous.ratio, 1e-12)
                return previous.drop + t * (d - previous.drop)
            }
            previous = (r, d)
        }
        return previous.drop
    }

    /// One line per group: its drops in points at each ratio.
    public var table: String {
        let nameWidth = max(5, groups.map(\.name.count).max() ?? 0)
        var lines = ["group".padding(toLength: nameWidth, withPad: " ", startingAt: 0) + "  units  "
                     + ratios.map { String(format: "%7.2f", $0) }.joined(separator: " ") + "   (accuracy drop in points at each ratio)"]
        for g in groups {
            let drops = g.accuracy.map { String(format: "%+7.2f", (baseline - $0) * 100) }.joined(separator: " ")
            lines.append(g.name.padding(toLength: nameWidth, withPad: " ", startingAt: 0) + String(format: "  %5d  ", g.units) + drops)
        }
        lines.append(String(format: "baseline accuracy %.2f%% on %d samples (%@), criterion %@", baseline * 100, samples, subset, criterion))
        return lines.joined(separator: "\n")
    }
}

/// Progress of a sensitivity analysis.
public enum SensitivityEvent: Sendable {
    /// `done` of `total` evaluations finished; `group` and `ratio` the one just run.
    case evaluated(done: Int, total: Int, group: String, ratio: Double, accuracy: Double)
}

/// Computes a ``SensitivityProfile``.
public enum SensitivityAnalysis {
    public struct Settings: Codable, Equatable, Sendable {
        public var criterion: PruningCriterion = .l1
        public var ratios: [Double] = [0.1, 0.3, 0.5, 0.7, 0.9]
        /// Kept widths are rounded up to multiples of this, as the pruning that uses the profile does.
        public var roundTo = 8
        public var threads = 2
        public var seed: UInt64 = 0
        public var calibrationBatches = 4
        public init() {}

        public func validate() throws {
            guard !ratios.isEmpty else { throw PruningError.invalidSettings("--ratios: give at least one ratio") }
            for r in ratios where !(r > 0 && r < 1) {
                throw PruningError.invalidRatio("--ratios: \(r) is outside (0, 1): a ratio is the fraction of a group's channels removed")
            }
            guard ratios == ratios.sorted(), Set(ratios).count == ratios.count else {
                throw PruningError.invalidSettings("--ratios must increase: \(ratios.map { String($0) }.joined(separator: ","))")
            }
            guard roundTo >= 1 else { throw PruningError.invalidSettings("--round-to must be at least 1, got \(roundTo)") }
        }
    }

    /// Prunes each prunable group of `graph` alone at each ratio and evaluates on `evaluation`
    /// (normalised by `transforms`); `calibration` feeds data-driven criteria (taylor, apoz, ...).
    public static func run(_ graph: Graph, evaluation: any Dataset, subset: String, transforms: [any Transform],
                           settings: Settings, calibration: CalibrationData? = nil,
                           onEvent: ((SensitivityEvent) -> Void)? = nil) throws -> SensitivityProfile {
        try settings.validate()
        let started = monotonicClock()
        let analysis = try ChannelAnalysis(graph)
        let scores = try ChannelImportance.scores(settings.criterion, analysis: analysis, data: calibration, seed: settings.seed,
                                                  threads: settings.threads)
        func accuracy(_ g: Graph) throws -> Double {
            try Evaluator(graph: g, batchSize: 256, threads: settings.threads).evaluate(evaluation, transforms: transforms).top1
        }
        let baseline = try accuracy(graph)
        let groups = analysis.groups.filter { $0.prunable && scores[$0.id] != nil && $0.units > 1 }
        let total = groups.count * settings.ratios.count
        var done = 0
        var result: [SensitivityProfile.Group] = []
        for group in groups {
            var accuracies: [Double] = [], parameters: [Int] = []
            for ratio in settings.ratios {
                let pruned = try prune(analysis, group: group, ratio: ratio, scores: scores, settings: settings)
                let a = try accuracy(pruned)
                accuracies.append(a)
                parameters.append(try pruned.trainableParameterCount())
                done += 1
                onEvent?(.evaluated(done: done, total: total, group: group.producers[0], ratio: ratio, accuracy: a))
            }
            result.append(SensitivityProfile.Group(key: group.key, name: group.producers[0], units: group.units,
                                                   accuracy: accuracies, parameters: parameters))
        }
        return SensitivityProfile(criterion: settings.criterion.rawValue, ratios: settings.ratios, samples: evaluation.count,
                                  subset: subset, baseline: baseline, baselineParameters: try graph.trainableParameterCount(),
                                  groups: result, seconds: monotonicClock() - started)
    }

    /// `analysis`'s graph with only `group` losing `ratio` of its channels (its lowest scores).
    static func prune(_ analysis: ChannelAnalysis, group: ChannelGroup, ratio: Double, scores: [[Double]?],
                      settings: Settings) throws -> Graph {
        var only = [[Double]?](repeating: nil, count: scores.count)
        only[group.id] = scores[group.id]
        var pruning = PruningSettings()
        pruning.criterion = settings.criterion
        pruning.ratio = ratio
        pruning.roundTo = settings.roundTo
        let plan = try PruningPlanner.plan(analysis, scores: only, settings: pruning)
        return try ChannelSurgery.apply(plan, analysis: analysis)
    }
}
