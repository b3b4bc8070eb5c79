/// Errors of the quantisation passes; each names what is wrong and where.
public enum QuantizationError: Error, CustomStringConvertible, Equatable {
    case alreadyQuantized(node: String)
    case invalidSetting(String)
    case unknownNode(String, known: [String])
    case calibrationData(String)
    case nonFinite(node: String, batch: Int)

    public var description: String {
        switch self {
        case let .alreadyQuantized(node):
            return "the model is already quantised (node '\(node)' carries int8 quantisation); quantise the f32 model it came from"
        case let .invalidSetting(message):
            return message
        case let .unknownNode(name, known):
            return "no node named '\(name)' to keep in f32; convolutions and linear layers are: \(known.prefix(12).joined(separator: ", "))\(known.count > 12 ? ", …" : "")"
        case let .calibrationData(message):
            return "calibration data: \(message)"
        case let .nonFinite(node, batch):
            return "calibration: node '\(node)' produced NaN or infinity on calibration batch \(batch + 1); the model or the data is broken there"
        }
    }
}
