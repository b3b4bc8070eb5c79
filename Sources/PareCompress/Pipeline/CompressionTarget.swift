import Foundation

/// What `pare compress` shrinks a model to, measured on the final model (after quantisation
/// when the recipe quantises).
public enum CompressionTarget: Codable, Equatable, Sendable, CustomStringConvertible {
    /// At most this many trainable parameters (a folded batch norm counts as the bias it becomes).
    case parameters(Int)
    /// At most this many bytes of the final native model file.
    case bytes(Int)
    /// At most this many multiply-accumulates per sample.
    case macs(Int)
    /// At most this median latency, measured on this machine at the run's batch and threads.
    case latency(milliseconds: Double)

    /// Parses `params=N`, `size=BYTES`, `macs=N` or `latency=MS`. Counts take k, M, G
    /// (`params=25k`, `macs=1.2M`); sizes take B, KB, MB (1000s) and KiB, MiB (1024s); a
    /// latency may end in `ms`.
    public init(parsing text: String) throws {
        let parts = text.split(separator: "=", maxSplits: 1).map { String($0).trimmingCharacters(in: .whitespaces) }
        let usage = "use params=N, size=BYTES, macs=N or latency=MS (e.g. params=25k, size=30KB, macs=1.2M, latency=0.2ms)"
        guard parts.count == 2, !parts[1].isEmpty else { throw PruningError.invalidSettings("--target '\(text)': \(usage)") }
        let value = parts[1]
        func positive(_ x: Double?) throws -> Double {
            guard let x, x.isFinite, x > 0 else {
                throw PruningError.invalidSettings("--target '\(text)': '\(value)' is not a positive number; \(usage)")
            }
            return x
        }
        switch parts[0] {
        case "params", "parameters": self = .parameters(Int(try positive(PruningTarget.number(value))))
        case "macs": self = .macs(Int(try positive(PruningTarget.number(value))))
        case "size", "bytes": self = .bytes(Int(try positive(Self.bytes(value))))
        case "latency":
            let number = value.hasSuffix("ms") ? String(value.dropLast(2)) : value
            self = .latency(milliseconds: try positive(Double(number)))
        default:
            throw PruningError.invalidSettings("--target '\(text)': unknown measure '\(parts[0])'; \(usage)")
        }
    }

    static func bytes(_ text: String) -> Double? {
        let units: [(String, Double)] = [("KiB", 1024), ("MiB", 1024 * 1024), ("KB", 1000), ("kB", 1000), ("MB", 1e6), ("B", 1)]
        for (suffix, factor) in units where text.hasSuffix(suffix) {
            return Double(text.dropLast(suffix.count).trimmingCharacters(in: .whitespaces)).map { $0 * factor }
        }
        return Double(text)
    }

    /// The figure the target bounds, read from a measured model.
    public func value(of figures: ModelFigures) -> Double {
        switch self {
        case .parameters: return Double(figures.parameters)
        case .bytes: return Double(figures.fileBytes)
        case .macs: return Double(figures.macs)
        case .latency: return figures.latencyMilliseconds
        }
    }

    /// The bound itself.
    public var bound: Double {
        switch self {
        case let .parameters(n): return Double(n)
        case let .bytes(n): return Double(n)
        case let .macs(n): return Double(n)
        case let .latency(ms): return ms
        }
    }

    public func isMet(by figures: ModelFigures) -> Bool { value(of: figures) <= bound }

    /// `params`, `size`, `macs` or `latency`.
    public var measure: String {
        switch self {
        case .parameters: return "params"
        case .bytes: return "size"
        case .macs: return "macs"
        case .latency: return "latency"
        }
    }

    public var description: String {
        switch self {
        case let .parameters(n): return "at most \(n) parameters"
        case let .bytes(n): return "a file of at most \(n) bytes"
        case let .macs(n): return "at most \(n) MACs"
        case let .latency(ms): return String(format: "at most %.3f ms latency", ms)
        }
    }
}

/// The measured size and speed of one model.
public struct ModelFigures: Codable, Equatable, Sendable {
    public var parameters: Int
    public var macs: Int
    public var fileBytes: Int
    public var latencyMilliseconds: Double

    public init(parameters: Int, macs: Int, fileBytes: Int, latencyMilliseconds: Double) {
        self.parameters = parameters
        self.macs = macs
        self.fileBytes = fileBytes
        self.latencyMilliseconds = latencyMilliseconds
    }
}
