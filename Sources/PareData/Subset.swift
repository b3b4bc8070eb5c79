import PareCore

/// The samples of `base` at `indices`, in that order.
public struct Subset: Dataset {
    public let base: any Dataset
    public let indices: [Int]

    public init(_ base: any Dataset, indices: [Int]) {
        precondition(indices.allSatisfy { $0 >= 0 && $0 < base.count }, "subset index outside 0..<\(base.count)")
        self.base = base
        self.indices = indices
    }

    public var count: Int { indices.count }
    public var classes: Int { base.classes }
    public var classNames: [String]? { base.classNames }
    public var sampleShape: Shape { base.sampleShape }
    public func sample(at index: Int) throws -> Sample { try base.sample(at: indices[index]) }
    public func label(at index: Int) -> Int { base.label(at: indices[index]) }
}
