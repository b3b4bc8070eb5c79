import Foundation

/// MNIST-format datasets: a pair of IDX files per split, `train-images-idx3-ubyte` with
/// `train-labels-idx1-ubyte` and `t10k-images-idx3-ubyte` with `t10k-labels-idx1-ubyte`,
/// each either gzipped (`.gz`) or not. Used for MNIST and Fashion-MNIST.
public enum MNIST {
    /// Where Debian's `dataset-fashion-mnist` package installs Fashion-MNIST.
    public static let fashionMNISTDirectory = "/usr/share/datasets/fashion-mnist"

    /// Fashion-MNIST's classes, by label.
    public static let fashionMNISTClassNames = [
        "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
        "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
    ]

    /// MNIST's classes: the digits.
    public static let digitClassNames = (0..<10).map(String.init)

    /// Fashion-MNIST's `split` from `directory` (by default Debian's copy).
    public static func fashionMNIST(_ split: Split, directory: String = fashionMNISTDirectory) throws -> InMemoryDataset {
        try load(directory: directory, split: split, classNames: fashionMNISTClassNames)
    }

    /// MNIST's `split` from `directory`.
    public static func mnist(_ split: Split, directory: String) throws -> InMemoryDataset {
        try load(directory: directory, split: split, classNames: digitClassNames)
    }

    /// Reads `split` from `directory`. Labels must lie in `0..<classNames.count`.
    /// Looks for `train-images-idx3-ubyte.gz`, then `train-images-idx3-ubyte`, then
    /// `train-images.idx3-ubyte` (and likewise for the other files).
    public static func load(directory: String, split: Split, classNames: [String]) throws -> InMemoryDataset {
        let prefix = split == .train ? "train" : "t10k"
        func candidates(_ kind: String, _ rank: Int) -> [String] {
            ["\(prefix)-\(kind)-idx\(rank)-ubyte.gz", "\(prefix)-\(kind)-idx\(rank)-ubyte", "\(prefix)-\(kind).idx\(rank)-ubyte"]
        }
        let imagesPath = try FileBytes.firstExisting(in: directory, candidates("images", 3))
        let labelsPath = try FileBytes.firstExisting(in: directory, candidates("labels", 1))
        return try load(images: imagesPath, labels: labelsPath, classNames: classNames)
    }

    /// Reads an image file and a label file. Every check names the file it concerns.
    public static func load(images imagesPath: String, labels labelsPath: String, classNames: [String]) throws -> InMemoryDataset {
        let images = try IDXFile.read(imagesPath, magic: IDXFile.imagesMagic)
        let labels = try IDXFile.read(labelsPath, magic: IDXFile.labelsMagic)
        let count = images.dimensions[0]
        guard labels.dimensions[0] == count else {
            throw DatasetError(file: labelsPath, problem: .countMismatch(labels: labels.dimensions[0], images: count, imagesFile: imagesPath))
        }
        let classes = classNames.count
        var labelValues: [Int] = []
        labelValues.reserveCapacity(count)
        for (index, byte) in labels.elements.enumerated() {
            guard Int(byte) < classes else {
                throw DatasetError(file: labelsPath, problem: .labelOutOfRange(index: index, label: Int(byte), classes: classes))
            }
            labelValues.append(Int(byte))
        }
        return InMemoryDataset(sampleShape: [1, images.dimensions[1], images.dimensions[2]], classes: classes,
                               classNames: classNames, pixels: images.elements, labels: labelValues)
    }
}
