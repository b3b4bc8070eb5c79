/// A graph that cannot be built, validated or run. Each case names the offending node.
public enum GraphError: Error, CustomStringConvertible, Equatable {
    /// Node `node` (at `index`) is invalid for `reason`.
    case invalidNode(index: Int, node: String, op: String, reason: String)
    case missingParameter(node: String, parameter: String)
    case parameterShapeMismatch(parameter: String, expected: Shape, got: Shape)
    case invalidGraph(String)
    case inputMismatch(String)

    public var description: String {
        switch self {
        case let .invalidNode(index, node, op, reason):
            return "node #\(index) '\(node)' (\(op)): \(reason)"
        case let .missingParameter(node, parameter):
            return "node '\(node)': missing parameter '\(parameter)'"
        case let .parameterShapeMismatch(parameter, expected, got):
            return "parameter '\(parameter)': expected shape \(expected), got \(got)"
        case let .invalidGraph(reason):
            return "invalid graph: \(reason)"
        case let .inputMismatch(reason):
            return "input mismatch: \(reason)"
        }
    }
}
