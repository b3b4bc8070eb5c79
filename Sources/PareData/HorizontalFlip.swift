import PareCore

/// Mirrors the image left to right with probability `probability`
/// (torchvision's `RandomHorizontalFlip`).
public struct HorizontalFlip: Transform, Equatable {
    public var probability: Float

    public init(probability: Float = 0.5) {
        self.probability = probability
    }

    public func callAsFunction(_ image: Tensor, generator: inout SeededGenerator) -> Tensor {
        generator.nextUniform() < probability ? Self.flip(image) : image
    }

    /// The image mirrored left to right.
    public static func flip(_ image: Tensor) -> Tensor {
        let (channels, height, width) = ImageResampling.dimensions(image)
        let source = image.floats
        let result = Tensor(zeros: image.shape)
        let destination = result.floats
        for row in 0..<(channels * height) {
            let start = row * width
            for x in 0..<width { destination[start + x] = source[start + width - 1 - x] }
        }
        return result
    }
}
