import PareCore

/// Images kept decoded in memory as bytes, one `[channels, height, width]` block per sample,
/// with their labels. IDX (MNIST, Fashion-MNIST) and CIFAR sets are small enough for this
/// (Fashion-MNIST's training set is 47 MB).
public struct InMemoryDataset: Dataset {
    public let sampleShape: Shape
    public let classes: Int
    public let classNames: [String]?
    /// All images back to back, `count * sampleShape.elementCount` bytes.
    public let pixels: [UInt8]
    public let labels: [Int]

    public init(sampleShape: Shape, classes: Int, classNames: [String]?, pixels: [UInt8], labels: [Int]) {
        precondition(sampleShape.rank == 3, "sample shape must be [channels, height, width], got \(sampleShape)")
        precondition(pixels.count == labels.count * sampleShape.elementCount,
                     "\(pixels.count) bytes do not hold \(labels.count) images of \(sampleShape)")
        precondition(classNames == nil || classNames!.count == classes, "class names do not match the class count")
        self.sampleShape = sampleShape
        self.classes = classes
        self.classNames = classNames
        self.pixels = pixels
        self.labels = labels
    }

    public var count: Int { labels.count }

    public func label(at index: Int) -> Int { labels[index] }

    /// The sample's image as a `u8` tensor (a copy).
    public func sample(at index: Int) -> Sample {
        precondition(index >= 0 && index < count, "sample index \(index) outside 0..<\(count)")
        let size = sampleShape.elementCount
        let image = Tensor(zeros: sampleShape, dtype: .u8)
        pixels.withUnsafeBytes { source in
            image.storage.pointer.copyMemory(from: source.baseAddress! + index * size, byteCount: size)
        }
        return Sample(image: image, label: labels[index])
    }
}
