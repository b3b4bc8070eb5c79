import PareCore

/// A seeded image transform on `f32` `[channels, height, width]` images (values 0–1 before
/// normalisation).
///
/// A transform never writes into its input; it returns a new tensor, or the input itself
/// when it leaves the image unchanged. All randomness comes from `generator`, so the same
/// generator state gives the same output.
public protocol Transform: Sendable {
    func callAsFunction(_ image: Tensor, generator: inout SeededGenerator) -> Tensor
}

/// Transforms applied one after another.
public struct Compose: Transform {
    public var transforms: [any Transform]

    public init(_ transforms: [any Transform]) {
        self.transforms = transforms
    }

    public func callAsFunction(_ image: Tensor, generator: inout SeededGenerator) -> Tensor {
        transforms.reduce(image) { image, transform in transform(image, generator: &generator) }
    }
}
