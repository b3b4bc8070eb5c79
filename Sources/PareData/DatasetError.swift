/// A dataset file or folder that cannot be read: which file, and what is wrong with it.
public struct DatasetError: Error, CustomStringConvertible, Equatable {
    /// The path of the offending file or folder.
    public var file: String
    public var problem: Problem

    public init(file: String, problem: Problem) {
        self.file = file
        self.problem = problem
    }

    /// What is wrong. Sizes are in bytes.
    public enum Problem: Equatable, Sendable {
        /// The file does not exist; `tried` lists the names looked for when there were several.
        case fileMissing(tried: [String])
        case unreadable(reason: String)
        /// The compressed stream ends early or is corrupt (zlib's message).
        case corruptGzip(reason: String)
        case truncated(expectedBytes: Int, actualBytes: Int)
        /// Bytes after the last record the header announces.
        case trailingBytes(expectedBytes: Int, actualBytes: Int)
        case wrongMagic(expected: UInt32, found: UInt32)
        case countMismatch(labels: Int, images: Int, imagesFile: String)
        case labelOutOfRange(index: Int, label: Int, classes: Int)
        case sizeNotMultipleOfRecord(size: Int, recordSize: Int)
        case notADirectory
        case noClassFolders
        case emptyClassFolder
        case undecodableImage(reason: String)
        /// A header field announces more than Pare reads (checked before allocating for it).
        case headerTooLarge(field: String, limit: String)
    }

    public var description: String { "\(file): \(problem.description)" }
}

extension DatasetError.Problem: CustomStringConvertible {
    public var description: String {
        switch self {
        case let .fileMissing(tried):
            return tried.count > 1 ? "no such file (looked for \(tried.joined(separator: ", ")))" : "no such file"
        case let .unreadable(reason):
            return "cannot read: \(reason)"
        case let .corruptGzip(reason):
            return "corrupt or truncated gzip data: \(reason)"
        case let .truncated(expectedBytes, actualBytes):
            return "truncated: the header announces \(expectedBytes) bytes but the file holds \(actualBytes)"
        case let .trailingBytes(expectedBytes, actualBytes):
            return "the header announces \(expectedBytes) bytes but the file holds \(actualBytes) (trailing data)"
        case let .wrongMagic(expected, found):
            return "wrong magic number \(hex(found)), expected \(hex(expected))"
        case let .countMismatch(labels, images, imagesFile):
            return "\(labels) labels but \(images) images in \(imagesFile)"
        case let .labelOutOfRange(index, label, classes):
            return "label \(label) of sample \(index) is outside 0..<\(classes)"
        case let .sizeNotMultipleOfRecord(size, recordSize):
            return "size \(size) bytes is not a multiple of the \(recordSize)-byte record"
        case .notADirectory:
            return "not a directory"
        case .noClassFolders:
            return "no class sub-folders (expected one sub-folder of images per class)"
        case .emptyClassFolder:
            return "class folder holds no PNG or JPEG images"
        case let .undecodableImage(reason):
            return "cannot decode image: \(reason)"
        case let .headerTooLarge(field, limit):
            return "the header's \(field) announces more than the \(limit) Pare reads"
        }
    }
}

private func hex(_ value: UInt32) -> String {
    let digits = String(value, radix: 16)
    return "0x" + String(repeating: "0", count: max(0, 8 - digits.count)) + digits
}
