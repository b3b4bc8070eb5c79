/// The extents of a tensor, outermost first (NCHW for images: batch, channels, height, width).
public struct Shape: Hashable, Codable, Sendable, CustomStringConvertible, ExpressibleByArrayLiteral {
    public var dimensions: [Int]

    public init(_ dimensions: [Int]) {
        precondition(dimensions.allSatisfy { $0 >= 0 }, "negative extent in shape \(dimensions)")
        self.dimensions = dimensions
    }

    public init(arrayLiteral elements: Int...) { self.init(elements) }

    public init(from decoder: Decoder) throws {
        let dims = try decoder.singleValueContainer().decode([Int].self)
        guard dims.allSatisfy({ $0 >= 0 }) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "negative extent in shape \(dims)"))
        }
        self.dimensions = dims
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(dimensions)
    }

    public var rank: Int { dimensions.count }
    /// Number of elements (1 for a scalar).
    public var elementCount: Int { dimensions.reduce(1, *) }
    public subscript(_ axis: Int) -> Int { dimensions[axis] }

    /// Row-major strides in elements.
    public var strides: [Int] {
        var result = [Int](repeating: 1, count: rank)
        var running = 1
        for axis in stride(from: rank - 1, through: 0, by: -1) {
            result[axis] = running
            running *= dimensions[axis]
        }
        return result
    }

    /// `[batch] + self`.
    public func prepending(_ batch: Int) -> Shape { Shape([batch] + dimensions) }
    /// The shape without its first (batch) dimension.
    public var droppingFirst: Shape { Shape(Array(dimensions.dropFirst())) }

    public var description: String { dimensions.map(String.init).joined(separator: "x") }
}
