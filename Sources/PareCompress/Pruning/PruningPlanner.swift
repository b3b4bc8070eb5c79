import PareCore

/// How the removals are spread over the groups.
public enum PruningScope: String, CaseIterable, Codable, Sendable {
    /// Every group loses the same fraction of its channels (its per-layer ratio if given).
    case uniform
    /// Channels are ranked across groups after dividing each group's scores by their mean;
    /// the lowest go first until the ratio of all prunable channels is removed, no group
    /// losing more than its cap (``PruningSettings/maxGroupRatio`` or its per-layer ratio).
    case global
}

/// Everything that decides a pruning plan besides the model.
public struct PruningSettings: Codable, Equatable, Sendable {
    public var criterion: PruningCriterion = .l1
    public var scope: PruningScope = .uniform
    /// Fraction of each group's channels to remove (Torch-Pruning's `pruning_ratio`), in [0, 1).
    public var ratio: Double = 0.5
    /// Ratios for groups whose producers' names match a pattern (a node name or a prefix of
    /// one up to a dot: `layer4` matches `layer4.0.conv1`); the longest match wins. In global
    /// scope they cap the group's removal instead.
    public var layerRatios: [String: Double] = [:]
    /// Groups with a producer matching one of these patterns are left whole.
    public var ignored: [String] = []
    /// Kept widths are multiples of this (unless a group has fewer channels); 1 for none.
    public var roundTo: Int = 8
    /// In global scope, the most any one group may lose.
    public var maxGroupRatio: Double = 0.9
    /// Seeds the random criterion.
    public var seed: UInt64 = 0

    public init() {}

    /// Throws naming the first setting that cannot be used.
    public func validate(for graph: Graph) throws {
        func checkRatio(_ r: Double, _ what: String) throws {
            guard r.isFinite, r >= 0, r < 1 else {
                throw PruningError.invalidRatio("\(what) \(r) is outside [0, 1): a ratio is the fraction of each group's channels removed")
            }
        }
        try checkRatio(ratio, "--ratio")
        for (pattern, r) in layerRatios {
            try checkRatio(r, "--ratio \(pattern)=")
            guard graph.nodes.contains(where: { Self.matches($0.name, pattern) }) else {
                throw PruningError.unknownLayer(option: "--ratio", pattern: pattern)
            }
        }
        for pattern in ignored where !graph.nodes.contains(where: { Self.matches($0.name, pattern) }) {
            throw PruningError.unknownLayer(option: "--ignore", pattern: pattern)
        }
        guard roundTo >= 1 else { throw PruningError.invalidSettings("--round-to must be at least 1, got \(roundTo)") }
        guard maxGroupRatio > 0, maxGroupRatio < 1 else {
            throw PruningError.invalidSettings("--max-group-ratio must be in (0, 1), got \(maxGroupRatio)")
        }
    }

    /// `name` is `pattern` or starts with `pattern.`.
    static func matches(_ name: String, _ pattern: String) -> Bool {
        name == pattern || name.hasPrefix(pattern + ".")
    }

    /// The per-layer ratio for a group with `producers`, the longest matching pattern's.
    func layerRatio(for producers: [String]) -> Double? {
        layerRatios.filter { pattern, _ in producers.contains { Self.matches($0, pattern) } }
            .max { $0.key.count < $1.key.count }?.value
    }

    /// Units a group of `units` keeps when it loses `ratio` of them, rounded up to a multiple
    /// of `roundTo` (never more than it has, never fewer than one).
    func keptUnits(_ units: Int, ratio: Double) -> Int {
        var keep = units - Int((Double(units) * ratio + 1e-9).rounded(.down))
        if roundTo > 1 && units > roundTo { keep = min(units, (keep + roundTo - 1) / roundTo * roundTo) }
        return max(1, keep)
    }
}

/// Turns unit scores into a plan according to ``PruningSettings``.
public enum PruningPlanner {
    /// The plan for `analysis` with `scores` (``ChannelImportance/scores``). Groups that are not
    /// prunable, not scored or ignored lose nothing.
    ///
    /// Ratios count from `originalUnits` (a group's width before a schedule's first step, by
    /// ``ChannelGroup/key``; the current width when absent), so that an iterative schedule's
    /// step `k` asks for its cumulative ratio and rounding to ``PruningSettings/roundTo``
    /// does not stall small steps.
    public static func plan(_ analysis: ChannelAnalysis, scores: [[Double]?], settings: PruningSettings,
                            originalUnits: [String: Int] = [:]) throws -> PruningPlan {
        try settings.validate(for: analysis.graph)
        let candidates = analysis.groups.filter { group in
            group.prunable && scores[group.id] != nil
                && !group.producers.contains { name in settings.ignored.contains { PruningSettings.matches(name, $0) } }
        }
        var removed: [Int: [Int]] = [:]
        switch settings.scope {
        case .uniform:
            for group in candidates {
                let ratio = settings.layerRatio(for: group.producers) ?? settings.ratio
                let original = max(group.units, originalUnits[group.key] ?? group.units)
                let count = max(0, group.units - settings.keptUnits(original, ratio: ratio))
                removed[group.id] = lowest(count, of: scores[group.id]!)
            }
        case .global:
            var ranked: [(score: Double, group: Int, unit: Int)] = []
            for group in candidates {
                let s = scores[group.id]!
                let mean = s.reduce(0, +) / Double(max(1, s.count))
                for (u, value) in s.enumerated() { ranked.append((mean > 0 ? value / mean : value, group.id, u)) }
            }
            ranked.sort { ($0.score, $0.group, $0.unit) < ($1.score, $1.group, $1.unit) }
            func original(_ group: ChannelGroup) -> Int { max(group.units, originalUnits[group.key] ?? group.units) }
            let total = candidates.reduce(0) { $0 + original($1) }
            let gone = candidates.reduce(0) { $0 + original($1) - $1.units }
            let target = Int((Double(total) * settings.ratio + 1e-9).rounded(.down)) - gone
            var cap: [Int: Int] = [:]
            for group in candidates {
                let ratio = settings.layerRatio(for: group.producers) ?? settings.maxGroupRatio
                let width = original(group)
                let most = width - max(1, width - Int((Double(width) * ratio).rounded(.down)))
                cap[group.id] = max(0, most - (width - group.units))
            }
            var taken: [Int: [Int]] = [:]
            var count = 0
            for entry in ranked where count < target {
                guard taken[entry.group, default: []].count < cap[entry.group]! else { continue }
                taken[entry.group, default: []].append(entry.unit)
                count += 1
            }
            // Round each group's kept width up: give back its best-scoring removals.
            for group in candidates {
                guard let units = taken[group.id], !units.isEmpty else { continue }
                var keep = group.units - units.count
                if settings.roundTo > 1 && group.units > settings.roundTo {
                    keep = min(group.units, (keep + settings.roundTo - 1) / settings.roundTo * settings.roundTo)
                }
                removed[group.id] = Array(units.prefix(group.units - keep)).sorted()  // `units` is in score order
            }
        }
        // A ratio may still empty a narrow slice window (ShuffleNet's channel split after many
        // shuffles): give back the best-scoring units there.
        let safe = analysis.keepingEveryNode(removed.mapValues(Set.init)) { group, unit in scores[group]?[unit] ?? 0 }
        let entries = analysis.groups.compactMap { group -> PruningPlan.Entry? in
            guard let units = safe[group.id], !units.isEmpty else { return nil }
            return PruningPlan.Entry(group: group.id, units: group.units, producers: group.producers, removed: units.sorted())
        }
        var described = ["criterion": settings.criterion.rawValue, "scope": settings.scope.rawValue,
                         "ratio": String(settings.ratio), "round-to": String(settings.roundTo)]
        if !settings.layerRatios.isEmpty {
            described["layer-ratios"] = settings.layerRatios.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
                .joined(separator: ",")
        }
        if !settings.ignored.isEmpty { described["ignore"] = settings.ignored.joined(separator: ",") }
        return PruningPlan(settings: described, entries: entries)
    }

    /// Indices of the `count` lowest scores, ascending by index (ties: the earlier unit goes).
    static func lowest(_ count: Int, of scores: [Double]) -> [Int] {
        guard count > 0 else { return [] }
        return Array(scores.indices.sorted { (scores[$0], $0) < (scores[$1], $1) }.prefix(count)).sorted()
    }
}

extension PruningPlanner {
    /// Scores `graph`'s channels by `settings.criterion` (on `data` if it needs some), plans
    /// by `settings` and applies the plan: the pruned graph and the plan.
    public static func prune(_ graph: Graph, settings: PruningSettings, data: CalibrationData? = nil,
                             originalUnits: [String: Int] = [:], threads: Int = 2) throws -> (graph: Graph, plan: PruningPlan) {
        try settings.validate(for: graph)
        let analysis = try ChannelAnalysis(graph)
        let scores = try ChannelImportance.scores(settings.criterion, analysis: analysis, data: data, seed: settings.seed,
                                                  threads: threads)
        let plan = try plan(analysis, scores: scores, settings: settings, originalUnits: originalUnits)
        return (try ChannelSurgery.apply(plan, analysis: analysis), plan)
    }
}
