/// Errors raised by tensor construction and access.
public enum TensorError: Error, CustomStringConvertible, Equatable {
    case elementCountMismatch(shape: Shape, expected: Int, got: Int)
    case shapeMismatch(context: String, expected: Shape, got: Shape)
    case dtypeMismatch(context: String, expected: DType, got: DType)
    case invalidAxis(context: String, axis: Int, rank: Int)
    case indexOutOfRange(context: String, index: Int, extent: Int)

    public var description: String {
        switch self {
        case let .elementCountMismatch(shape, expected, got):
            return "shape \(shape) holds \(expected) elements but \(got) values were given"
        case let .shapeMismatch(context, expected, got):
            return "\(context): expected shape \(expected), got \(got)"
        case let .dtypeMismatch(context, expected, got):
            return "\(context): expected dtype \(expected.rawValue), got \(got.rawValue)"
        case let .invalidAxis(context, axis, rank):
            return "\(context): axis \(axis) is not an axis of a rank-\(rank) tensor"
        case let .indexOutOfRange(context, index, extent):
            return "\(context): index \(index) outside 0..<\(extent)"
        }
    }
}
