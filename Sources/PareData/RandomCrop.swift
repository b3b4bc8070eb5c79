import PareCore

/// A `height` x `width` window at a random position of the image padded with `padding`
/// zeros on every side (torchvision's `RandomCrop(size, padding)`; CIFAR: 32, padding 4).
public struct RandomCrop: Transform, Equatable {
    public var height: Int
    public var width: Int
    public var padding: Int

    public init(height: Int, width: Int, padding: Int = 0) {
        precondition(height > 0 && width > 0 && padding >= 0, "RandomCrop needs a positive size and padding >= 0")
        self.height = height
        self.width = width
        self.padding = padding
    }

    /// The window's top-left corner in the padded image, each uniform in `0...(padded - size)`.
    public func offsets(imageHeight: Int, imageWidth: Int, generator: inout SeededGenerator) -> (top: Int, left: Int) {
        let paddedHeight = imageHeight + 2 * padding, paddedWidth = imageWidth + 2 * padding
        precondition(paddedHeight >= height && paddedWidth >= width,
                     "RandomCrop of \(height)x\(width) larger than the padded \(paddedHeight)x\(paddedWidth) image")
        let top = generator.integer(below: paddedHeight - height + 1)
        let left = generator.integer(below: paddedWidth - width + 1)
        return (top, left)
    }

    /// The window with top-left corner (`top`, `left`) in the padded image.
    public func apply(_ image: Tensor, top: Int, left: Int) -> Tensor {
        ImageResampling.crop(image, top: top - padding, left: left - padding, height: height, width: width)
    }

    public func callAsFunction(_ image: Tensor, generator: inout SeededGenerator) -> Tensor {
        let (_, imageHeight, imageWidth) = ImageResampling.dimensions(image)
        let (top, left) = offsets(imageHeight: imageHeight, imageWidth: imageWidth, generator: &generator)
        return apply(image, top: top, left: left)
    }
}
