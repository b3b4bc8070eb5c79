/// How post-training calibration turns an activation's observed values into its 8-bit range.
public enum CalibrationMethod: Hashable, Sendable, CustomStringConvertible {
    /// The largest magnitude seen.
    case minMax
    /// The magnitude below which this percentage of the values lie (e.g. 99.99).
    case percentile(Double)
    /// The range whose 8-bit histogram is closest to the observed one in KL divergence
    /// (TensorRT's and onnxruntime's entropy calibration).
    case entropy
    /// The range that minimises the mean squared quantisation error over the histogram.
    case mse

    /// Parses `minmax`, `percentile=99.99`, `entropy` or `mse`.
    public init(parsing text: String) throws {
        let lower = text.lowercased()
        switch lower {
        case "minmax", "min-max", "max": self = .minMax
        case "entropy", "kl": self = .entropy
        case "mse": self = .mse
        default:
            let parts = lower.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2, parts[0] == "percentile", let value = Double(parts[1]), value > 0, value <= 100 else {
                throw QuantizationError.invalidSetting(
                    "calibration method '\(text)': expected minmax, percentile=P (0 < P <= 100, e.g. percentile=99.99), entropy or mse")
            }
            self = .percentile(value)
        }
    }

    public var description: String {
        switch self {
        case .minMax: return "minmax"
        case let .percentile(p): return "percentile=\(p)"
        case .entropy: return "entropy"
        case .mse: return "mse"
        }
    }

    /// Whether the method needs a histogram (a second pass over the calibration data).
    var needsHistogram: Bool {
        switch self {
        case .minMax: return false
        case .percentile, .entropy, .mse: return true
        }
    }
}
