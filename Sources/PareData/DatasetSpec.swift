import Foundation

/// A dataset as named on the command line (`--data`):
///
/// - `fashion-mnist` (Debian's copy) or `fashion-mnist:DIR`
/// - `mnist:DIR`
/// - `cifar10:DIR`
/// - `cifar100:DIR` (fine labels) or `cifar100-coarse:DIR` (the 20 superclasses)
/// - `folder:DIR`: image folders. When `DIR` holds a `train` (or `training`) folder, that
///   is the training set and the first of `val`, `validation`, `test` is the test set;
///   otherwise `DIR` itself is the training set and there is no test set.
public enum DatasetSpec: Equatable, Sendable, CustomStringConvertible {
    case fashionMNIST(directory: String)
    case mnist(directory: String)
    case cifar10(directory: String)
    case cifar100(directory: String, label: CIFAR.Label100)
    case folder(directory: String)

    public static let acceptedForms = [
        "fashion-mnist", "fashion-mnist:DIR", "mnist:DIR", "cifar10:DIR", "cifar100:DIR", "cifar100-coarse:DIR", "folder:DIR",
    ]

    /// Parses one of ``acceptedForms``.
    public init(parsing text: String) throws {
        if text == "fashion-mnist" {
            self = .fashionMNIST(directory: MNIST.fashionMNISTDirectory)
            return
        }
        guard let colon = text.firstIndex(of: ":") else { throw DatasetSpecError(text: text) }
        let kind = String(text[..<colon])
        let directory = String(text[text.index(after: colon)...])
        guard !directory.isEmpty else { throw DatasetSpecError(text: text) }
        switch kind {
        case "fashion-mnist": self = .fashionMNIST(directory: directory)
        case "mnist": self = .mnist(directory: directory)
        case "cifar10": self = .cifar10(directory: directory)
        case "cifar100": self = .cifar100(directory: directory, label: .fine)
        case "cifar100-coarse": self = .cifar100(directory: directory, label: .coarse)
        case "folder": self = .folder(directory: directory)
        default: throw DatasetSpecError(text: text)
        }
    }

    public var description: String {
        switch self {
        case let .fashionMNIST(directory):
            return directory == MNIST.fashionMNISTDirectory ? "fashion-mnist" : "fashion-mnist:\(directory)"
        case let .mnist(directory): return "mnist:\(directory)"
        case let .cifar10(directory): return "cifar10:\(directory)"
        case let .cifar100(directory, label): return label == .fine ? "cifar100:\(directory)" : "cifar100-coarse:\(directory)"
        case let .folder(directory): return "folder:\(directory)"
        }
    }

    /// Opens `split`. Image folders are read with `geometry` and `skipBadImages` (see
    /// ``ImageFolder``). Returns nil for the test split of an image folder without one.
    public func open(_ split: Split, geometry: ImageFolder.Geometry = .resizeAndCenterCrop(resize: 256, crop: 224),
                     skipBadImages: Bool = false) throws -> (any Dataset)? {
        switch self {
        case let .fashionMNIST(directory): return try MNIST.fashionMNIST(split, directory: directory)
        case let .mnist(directory): return try MNIST.mnist(split, directory: directory)
        case let .cifar10(directory): return try CIFAR.cifar10(split, directory: directory)
        case let .cifar100(directory, label): return try CIFAR.cifar100(split, directory: directory, label: label)
        case let .folder(directory):
            guard let root = Self.folderRoot(directory, split) else { return nil }
            return try ImageFolder(root: root, geometry: geometry, skipBadImages: skipBadImages)
        }
    }

    /// The folder holding `split`'s class folders under `directory`, or nil.
    static func folderRoot(_ directory: String, _ split: Split) -> String? {
        func existing(_ names: [String]) -> String? {
            names.lazy.map { (directory as NSString).appendingPathComponent($0) }.first { path in
                var isDirectory: ObjCBool = false
                return FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && isDirectory.boolValue
            }
        }
        guard let train = existing(["train", "training"]) else { return split == .train ? directory : nil }
        return split == .train ? train : existing(["val", "validation", "test"])
    }
}

/// A `--data` value that is none of ``DatasetSpec/acceptedForms``.
public struct DatasetSpecError: Error, CustomStringConvertible, Equatable {
    public var text: String

    public init(text: String) {
        self.text = text
    }

    public var description: String {
        "unknown dataset '\(text)'; accepted forms: \(DatasetSpec.acceptedForms.joined(separator: ", "))"
    }
}
