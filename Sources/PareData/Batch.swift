import PareCore

/// A batch from a ``DataLoader``: images `[N, C, H, W]` (`f32`, transformed) and their
/// labels, with the dataset index of each sample.
public struct Batch: Sendable {
    public var images: Tensor
    public var labels: [Int]
    /// The dataset index of each sample, in batch order.
    public var indices: [Int]

    public var count: Int { labels.count }
}

/// A batch that cannot be assembled.
public struct DataLoaderError: Error, CustomStringConvertible, Equatable {
    /// The dataset index of the sample that does not fit.
    public var sampleIndex: Int
    /// The shape of the batch's first sample after the transforms.
    public var expected: Shape
    public var got: Shape

    public init(sampleIndex: Int, expected: Shape, got: Shape) {
        self.sampleIndex = sampleIndex
        self.expected = expected
        self.got = got
    }

    public var description: String {
        "sample \(sampleIndex) is \(got) after the transforms but the batch's first sample is \(expected); "
            + "resize or crop the images to one size"
    }
}
