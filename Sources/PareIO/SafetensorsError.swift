import PareCore

/// A safetensors file that cannot be read or written: which file, and what is wrong with it.
public struct SafetensorsError: Error, CustomStringConvertible, Equatable {
    /// The file's path (`<memory>` when decoding bytes that came from no file).
    public var file: String
    public var problem: Problem

    public init(file: String, problem: Problem) {
        self.file = file
        self.problem = problem
    }

    /// What is wrong. Offsets and sizes are in bytes, offsets relative to the data section.
    public enum Problem: Equatable, Sendable {
        case fileMissing
        case unreadable(reason: String)
        case writeFailed(reason: String)
        /// Fewer than the 8 bytes of the header length.
        case tooShort(byteCount: Int)
        case headerTooLarge(length: UInt64, limit: Int)
        case headerExceedsFile(length: UInt64, available: Int)
        case headerNotUTF8
        case headerNotJSON(detail: String)
        case headerNotObject
        case entryNotObject(tensor: String)
        case missingField(tensor: String, field: String)
        case wrongFieldType(tensor: String, field: String, expected: String)
        case unknownDType(tensor: String, dtype: String)
        case negativeDimension(tensor: String, shape: [Int])
        case elementCountOverflow(tensor: String, shape: [Int])
        case sizeMismatch(tensor: String, dtype: DType, shape: [Int], expectedBytes: Int, offsetBytes: Int)
        case offsetsOutOfBounds(tensor: String, begin: Int, end: Int, dataSize: Int)
        /// The tensor does not start where the previous one (in offset order) ends.
        case offsetsNotContiguous(tensor: String, begin: Int, expectedBegin: Int)
        /// Bytes at the end of the data section that no tensor covers.
        case trailingData(covered: Int, dataSize: Int)
        case metadataNotObject
        case metadataValueNotString(key: String)
        /// A tensor may not be called `__metadata__`.
        case reservedTensorName
    }

    public var description: String { "\(file): \(problem.description)" }
}

extension SafetensorsError.Problem: CustomStringConvertible {
    public var description: String {
        switch self {
        case .fileMissing:
            return "no such file"
        case let .unreadable(reason):
            return "cannot read: \(reason)"
        case let .writeFailed(reason):
            return "cannot write: \(reason)"
        case let .tooShort(byteCount):
            return "file is \(byteCount) bytes, too short for the 8-byte header length"
        case let .headerTooLarge(length, limit):
            return "header length \(length) exceeds the limit of \(limit) bytes (not a safetensors file?)"
        case let .headerExceedsFile(length, available):
            return "header length \(length) is larger than the \(available) bytes after it (truncated file?)"
        case .headerNotUTF8:
            return "header is not valid UTF-8"
        case let .headerNotJSON(detail):
            return "header is not valid JSON: \(detail)"
        case .headerNotObject:
            return "header is not a JSON object"
        case let .entryNotObject(tensor):
            return "tensor '\(tensor)': entry is not a JSON object"
        case let .missingField(tensor, field):
            return "tensor '\(tensor)': missing field '\(field)'"
        case let .wrongFieldType(tensor, field, expected):
            return "tensor '\(tensor)': field '\(field)' should be \(expected)"
        case let .unknownDType(tensor, dtype):
            let known = DType.allCases.map(\.safetensorsName).joined(separator: ", ")
            return "tensor '\(tensor)': unsupported dtype '\(dtype)' (supported: \(known))"
        case let .negativeDimension(tensor, shape):
            return "tensor '\(tensor)': negative dimension in shape \(shape)"
        case let .elementCountOverflow(tensor, shape):
            return "tensor '\(tensor)': shape \(shape) has too many elements"
        case let .sizeMismatch(tensor, dtype, shape, expectedBytes, offsetBytes):
            return "tensor '\(tensor)': \(dtype.safetensorsName) \(shape) needs \(expectedBytes) bytes but its offsets span \(offsetBytes)"
        case let .offsetsOutOfBounds(tensor, begin, end, dataSize):
            return "tensor '\(tensor)': data_offsets [\(begin), \(end)] are outside the \(dataSize)-byte data section"
        case let .offsetsNotContiguous(tensor, begin, expectedBegin):
            let what = begin < expectedBegin ? "overlaps the previous tensor" : "leaves a gap after the previous tensor"
            return "tensor '\(tensor)': data starts at \(begin) and \(what) (expected \(expectedBegin))"
        case let .trailingData(covered, dataSize):
            return "tensors cover \(covered) of the \(dataSize) data bytes; the rest belongs to no tensor"
        case .metadataNotObject:
            return "__metadata__ is not a JSON object"
        case let .metadataValueNotString(key):
            return "__metadata__ value for '\(key)' is not a string"
        case .reservedTensorName:
            return "a tensor cannot be named __metadata__"
        }
    }
}
