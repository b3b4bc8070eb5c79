import Foundation

/// How a pruning run reaches its ratio: the cumulative ratio (fraction of the original
/// channels removed) each step asks for.
public enum PruningSchedule: Codable, Equatable, Sendable {
    /// One step to the ratio.
    case oneShot
    /// `steps` steps to the ratio, the removed fraction growing linearly (`R·k/K`) or the kept
    /// fraction shrinking geometrically (`(1−R)^(k/K)`).
    case steps(count: Int, geometric: Bool)
    /// The seed reports' way: every step removes `fraction` of what is left (their rate 0.95
    /// is `fraction` 0.05), until the model is at most `target`.
    case perStep(fraction: Double, target: PruningTarget)

    /// The cumulative ratio of step `step` (1-based) for a final ratio `ratio`.
    public func cumulativeRatio(step: Int, ratio: Double) -> Double {
        switch self {
        case .oneShot: return ratio
        case let .steps(count, geometric):
            let k = Double(min(step, count)) / Double(count)
            return geometric ? 1 - pow(1 - ratio, k) : ratio * k
        case let .perStep(fraction, _):
            return 1 - pow(1 - fraction, Double(step))
        }
    }

    /// Steps the schedule has at most (per-step ones stop at their target, or give up).
    public var maximumSteps: Int {
        switch self {
        case .oneShot: return 1
        case let .steps(count, _): return count
        case .perStep: return 200
        }
    }

    public var description: String {
        switch self {
        case .oneShot: return "one shot"
        case let .steps(count, geometric): return "\(count) \(geometric ? "geometric" : "linear") steps"
        case let .perStep(fraction, target): return "\(fraction) of the rest per step until \(target)"
        }
    }
}

/// A size a per-step schedule prunes down to.
public enum PruningTarget: Codable, Equatable, Sendable, CustomStringConvertible {
    /// At most this many trainable parameters.
    case parameters(Int)
    /// At most this many MACs per sample.
    case macs(Int)

    /// Parses `params=N` or `macs=N`, where N is a count (`1.2M`, `300k`, `250000`) or, below
    /// 1, a fraction of the original model's (`params=0.3`).
    public init(parsing text: String, parameters: Int, macs: Int) throws {
        let parts = text.split(separator: "=", maxSplits: 1).map(String.init)
        guard parts.count == 2, let value = Self.number(parts[1]), value > 0 else {
            throw PruningError.invalidSettings("--target '\(text)': use params=N or macs=N (N a count such as 1.2M, or a fraction below 1 of the original)")
        }
        func resolve(_ original: Int) -> Int { value < 1 ? Int(Double(original) * value) : Int(value) }
        switch parts[0] {
        case "params", "parameters": self = .parameters(resolve(parameters))
        case "macs": self = .macs(resolve(macs))
        default:
            throw PruningError.invalidSettings("--target '\(text)': the target is params=N or macs=N")
        }
    }

    static func number(_ text: String) -> Double? {
        let multipliers: [Character: Double] = ["k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9]
        if let last = text.last, let m = multipliers[last] { return Double(text.dropLast()).map { $0 * m } }
        return Double(text)
    }

    public func isMet(parameters: Int, macs: Int) -> Bool {
        switch self {
        case let .parameters(n): return parameters <= n
        case let .macs(n): return macs <= n
        }
    }

    public var description: String {
        switch self {
        case let .parameters(n): return "\(n) parameters"
        case let .macs(n): return "\(n) MACs"
        }
    }
}
