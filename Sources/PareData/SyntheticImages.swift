import PareCore

/// A seeded, learnable image classification set that needs no files: every class has a
/// random prototype image, and each sample is its class's prototype plus Gaussian noise.
/// Used by the demo and by tests that must show a model learning.
public struct SyntheticImages: Sendable {
    public let imageShape: Shape
    public let classes: Int
    public let noise: Float
    private let prototypes: [[Float]]

    public init(imageShape: Shape, classes: Int, noise: Float = 1, seed: UInt64) {
        precondition(classes > 0, "SyntheticImages needs at least one class")
        self.imageShape = imageShape
        self.classes = classes
        self.noise = noise
        var generator = SeededGenerator(seed: seed)
        prototypes = (0..<classes).map { _ in
            (0..<imageShape.elementCount).map { _ in generator.nextNormal() }
        }
    }

    /// `count` samples drawn with `generator`: an NCHW batch and its labels.
    public func batch(_ count: Int, generator: inout SeededGenerator) -> (images: Tensor, labels: [Int]) {
        let images = Tensor(zeros: imageShape.prepending(count))
        let pixels = images.floats
        let size = imageShape.elementCount
        var labels: [Int] = []
        labels.reserveCapacity(count)
        for n in 0..<count {
            let label = Int(generator.next() % UInt64(classes))
            labels.append(label)
            let prototype = prototypes[label]
            for j in 0..<size { pixels[n * size + j] = prototype[j] + noise * generator.nextNormal() }
        }
        return (images, labels)
    }
}
