import PareCore

/// Resizes to `height` x `width` with the bilinear filter of PIL and torchvision's
/// antialiased `Resize` (plain bilinear when enlarging).
public struct Resize: Transform, Equatable {
    public var height: Int
    public var width: Int

    public init(height: Int, width: Int) {
        precondition(height > 0 && width > 0, "Resize needs a positive size")
        self.height = height
        self.width = width
    }

    public func callAsFunction(_ image: Tensor, generator: inout SeededGenerator) -> Tensor {
        apply(image)
    }

    public func apply(_ image: Tensor) -> Tensor {
        let (_, inHeight, inWidth) = ImageResampling.dimensions(image)
        return (inHeight, inWidth) == (height, width) ? image : ImageResampling.resize(image, height: height, width: width)
    }
}

/// The central `height` x `width` window (torchvision's `CenterCrop`; zeros where the
/// window is larger than the image).
public struct CenterCrop: Transform, Equatable {
    public var height: Int
    public var width: Int

    public init(height: Int, width: Int) {
        precondition(height > 0 && width > 0, "CenterCrop needs a positive size")
        self.height = height
        self.width = width
    }

    public func callAsFunction(_ image: Tensor, generator: inout SeededGenerator) -> Tensor {
        ImageResampling.centerCrop(image, height: height, width: width)
    }
}
