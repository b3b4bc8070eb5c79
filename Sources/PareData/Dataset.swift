import PareCore

/// One labelled image: `image` is `[channels, height, width]`, either `u8` (0–255, as stored
/// in the file) or `f32` (0–1). The ``DataLoader`` turns `u8` into `f32` by dividing by 255,
/// as torchvision's `ToTensor` does.
public struct Sample: Sendable {
    public var image: Tensor
    public var label: Int

    public init(image: Tensor, label: Int) {
        self.image = image
        self.label = label
    }
}

/// A finite, indexable set of labelled images for classification.
///
/// Implementations are safe to read from several threads at once (the loader's workers do).
public protocol Dataset: Sendable {
    /// Number of samples.
    var count: Int { get }
    /// Number of classes; labels are in `0..<classes`.
    var classes: Int { get }
    /// Class names indexed by label, where the format records them.
    var classNames: [String]? { get }
    /// The `[channels, height, width]` of every sample's image.
    var sampleShape: Shape { get }
    /// The sample at `index` (in `0..<count`); decoding errors name the file.
    func sample(at index: Int) throws -> Sample
    /// The label of sample `index` without decoding its image.
    func label(at index: Int) -> Int
}

/// Which part of a dataset that ships split in two.
public enum Split: String, Sendable, CaseIterable {
    case train, test
}
