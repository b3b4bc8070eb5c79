import Foundation
import PareCore

/// Which units of which channel groups to remove: what surgery consumes and what criteria
/// and scopes produce. Written as JSON (`plan.json`) and re-appliable to the same model.
public struct PruningPlan: Codable, Equatable, Sendable {
    /// One group's removals. `units` and `producers` identify the group, so a plan is only
    /// applied to a model whose groups match.
    public struct Entry: Codable, Equatable, Sendable {
        public var group: Int
        public var units: Int
        public var producers: [String]
        /// Units to remove, ascending (unit `u` is the group's `u`-th channel in its first
        /// producer's order).
        public var removed: [Int]

        public init(group: Int, units: Int, producers: [String], removed: [Int]) {
            self.group = group
            self.units = units
            self.producers = producers
            self.removed = removed
        }
    }

    /// How the plan was made (criterion, scope, ratio), for people reading it.
    public var settings: [String: String]
    public var entries: [Entry]

    public init(settings: [String: String] = [:], entries: [Entry]) {
        self.settings = settings
        self.entries = entries
    }

    /// The plan that removes nothing.
    public static let empty = PruningPlan(entries: [])

    /// Units removed in all.
    public var removedUnits: Int { entries.reduce(0) { $0 + $1.removed.count } }

    /// Checks that the plan fits `analysis`'s groups; throws naming the first mismatch.
    public func check(against analysis: ChannelAnalysis) throws {
        for entry in entries {
            guard entry.group >= 0, entry.group < analysis.groups.count else {
                throw PruningError.planMismatch("the plan names group \(entry.group); the model has \(analysis.groups.count) groups")
            }
            let group = analysis.groups[entry.group]
            guard group.units == entry.units, group.producers == entry.producers else {
                throw PruningError.planMismatch(
                    "group \(entry.group) of the plan has \(entry.units) channels made by \(entry.producers.joined(separator: ", ")); "
                    + "the model's has \(group.units) made by \(group.producers.joined(separator: ", "))")
            }
            if !entry.removed.isEmpty && !group.prunable {
                throw PruningError.planMismatch("group \(entry.group) may not be pruned: \(group.reason ?? "fixed")")
            }
            if let bad = entry.removed.first(where: { $0 < 0 || $0 >= group.units }) {
                throw PruningError.planMismatch("group \(entry.group) has no channel \(bad) (it has \(group.units))")
            }
            guard Set(entry.removed).count == entry.removed.count else {
                throw PruningError.planMismatch("group \(entry.group) removes a channel twice")
            }
            guard entry.removed.count < group.units else {
                throw PruningError.emptyGroup(group: entry.group, producers: group.producers)
            }
        }
        let ids = entries.map(\.group)
        guard Set(ids).count == ids.count else { throw PruningError.planMismatch("the plan names a group twice") }
    }

    public func jsonData() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(self)
    }

    public static func read(from url: URL) throws -> PruningPlan {
        let data: Data
        do {
            data = try fileContents(url)
        } catch {
            throw PruningError.unreadablePlan(file: url.path, reason: "cannot be read (\(error.localizedDescription))")
        }
        do {
            return try JSONDecoder().decode(PruningPlan.self, from: data)
        } catch {
            throw PruningError.unreadablePlan(file: url.path, reason: "is not a pruning plan (\(error))")
        }
    }
}

/// Why a pruning request cannot be carried out. Each case names what is wrong.
public enum PruningError: Error, CustomStringConvertible, Equatable {
    case invalidRatio(String)
    case emptyGroup(group: Int, producers: [String])
    case emptyNode(node: String)
    case unknownLayer(option: String, pattern: String)
    case planMismatch(String)
    case unreadablePlan(file: String, reason: String)
    case criterionNeedsData(criterion: String)
    case invalidSettings(String)

    public var description: String {
        switch self {
        case let .invalidRatio(reason): return reason
        case let .emptyGroup(group, producers):
            return "pruning would leave group \(group) (\(producers.joined(separator: ", "))) with no channels"
        case let .emptyNode(node): return "pruning would leave node '\(node)' with no channels"
        case let .unknownLayer(option, pattern): return "\(option) '\(pattern)' names no node of the model"
        case let .planMismatch(reason): return "the plan does not fit the model: \(reason)"
        case let .unreadablePlan(file, reason): return "plan \(file) \(reason)"
        case let .criterionNeedsData(criterion): return "criterion \(criterion) needs calibration data: give --data"
        case let .invalidSettings(reason): return reason
        }
    }
}
