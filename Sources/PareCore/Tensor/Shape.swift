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
    /// Number of elements (1 for a scalar). Unchecked: for shapes that shape inference (or
    /// ``checkedElementCount``) has bounded.
    public var elementCount: Int { dimensions.reduce(1, *) }

    /// The most elements a shape from a file may describe: 2^32 (16 GiB of float32) per
    /// tensor, and per sample for activations. Far beyond any CNN, small enough that sizes
    /// computed from it (times a batch, times bytes per element) cannot overflow.
    public static let maxElementCount = 1 << 32

    /// The number of elements, or nil when a dimension is negative, the product overflows or
    /// it exceeds ``maxElementCount``.
    public var checkedElementCount: Int? { Shape.checkedCount(dimensions) }

    /// ``checkedElementCount`` of `dimensions`, which may be negative.
    public static func checkedCount(_ dimensions: [Int]) -> Int? {
        var count = 1
        for dimension in dimensions {
            guard dimension >= 0 else { return nil }
            let (product, overflow) = count.multipliedReportingOverflow(by: dimension)
            guard !overflow, product <= Shape.maxElementCount else { return nil }
            count = product
        }
        return count
    }

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
