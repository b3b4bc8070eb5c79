import Foundation
import PareCore

/// The contents of a `.safetensors` file: named tensors and string metadata.
///
/// Layout (the format of Hugging Face's `safetensors` library): an 8-byte little-endian
/// header length `N`; `N` bytes of UTF-8 JSON,
/// `{"__metadata__": {"key": "value"}, "name": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}`;
/// then the tensors' raw little-endian bytes, with offsets relative to the start of that data
/// section. Reading checks every rule the Python library checks (the tensors must cover the
/// data section exactly, without gaps or overlaps) and throws a ``SafetensorsError`` naming
/// the file and the problem. Writing produces the bytes the Python library writes for the
/// same tensors and metadata.
public struct SafetensorsFile: Sendable {
    public var tensors: [String: Tensor]
    /// String metadata from the header's `__metadata__` object.
    public var metadata: [String: String]

    /// Headers longer than this are rejected unread (the Python library's limit).
    public static let maxHeaderLength = 100_000_000

    public init(tensors: [String: Tensor] = [:], metadata: [String: String] = [:]) {
        self.tensors = tensors
        self.metadata = metadata
    }

    // MARK: Reading

    /// Reads and checks the file at `url`.
    public static func read(from url: URL) throws -> SafetensorsFile {
        let file = url.path
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: file, isDirectory: &isDirectory) else {
            throw SafetensorsError(file: file, problem: .fileMissing)
        }
        guard !isDirectory.boolValue else {
            throw SafetensorsError(file: file, problem: .unreadable(reason: "is a directory"))
        }
        let data: Data
        do {
            data = try fileContents(url, mapped: true)
        } catch {
            throw SafetensorsError(file: file, problem: .unreadable(reason: error.localizedDescription))
        }
        return try decode(data, source: file)
    }

    /// Decodes and checks the bytes of a safetensors file. `source` names them in errors.
    public static func decode(_ data: Data, source: String = "<memory>") throws -> SafetensorsFile {
        do {
            return try data.withUnsafeBytes { try decode(bytes: $0) }
        } catch let error as HeaderProblem {
            throw SafetensorsError(file: source, problem: error.problem)
        }
    }

    private static func decode(bytes: UnsafeRawBufferPointer) throws -> SafetensorsFile {
        guard bytes.count >= 8 else { throw HeaderProblem(.tooShort(byteCount: bytes.count)) }
        let length = UInt64(littleEndian: bytes.loadUnaligned(as: UInt64.self))
        guard length <= UInt64(maxHeaderLength) else {
            throw HeaderProblem(.headerTooLarge(length: length, limit: maxHeaderLength))
        }
        let headerLength = Int(length)
        guard headerLength <= bytes.count - 8 else {
            throw HeaderProblem(.headerExceedsFile(length: length, available: bytes.count - 8))
        }
        let headerBytes = Data(bytes[8..<(8 + headerLength)])
        guard String(data: headerBytes, encoding: .utf8) != nil else { throw HeaderProblem(.headerNotUTF8) }
        let header: Header
        do {
            header = try JSONDecoder().decode(Header.self, from: headerBytes)
        } catch let problem as HeaderProblem {
            throw problem
        } catch {
            throw HeaderProblem(.headerNotJSON(detail: describeDecodingError(error)))
        }

        let dataStart = 8 + headerLength
        let dataSize = bytes.count - dataStart
        var layouts: [(entry: Header.Entry, dtype: DType)] = []
        for entry in header.entries {
            guard let dtype = DType(safetensorsName: entry.dtype) else {
                throw HeaderProblem(.unknownDType(tensor: entry.name, dtype: entry.dtype))
            }
            guard entry.shape.allSatisfy({ $0 >= 0 }) else {
                throw HeaderProblem(.negativeDimension(tensor: entry.name, shape: entry.shape))
            }
            guard let byteCount = checkedByteCount(entry.shape, dtype) else {
                throw HeaderProblem(.elementCountOverflow(tensor: entry.name, shape: entry.shape))
            }
            guard entry.begin <= entry.end, entry.end <= dataSize else {
                throw HeaderProblem(.offsetsOutOfBounds(tensor: entry.name, begin: entry.begin, end: entry.end, dataSize: dataSize))
            }
            guard entry.end - entry.begin == byteCount else {
                throw HeaderProblem(.sizeMismatch(tensor: entry.name, dtype: dtype, shape: entry.shape,
                                                  expectedBytes: byteCount, offsetBytes: entry.end - entry.begin))
            }
            layouts.append((entry, dtype))
        }

        // Like the Python library: in offset order, each tensor starts where the last ended,
        // and together they cover the data section.
        var covered = 0
        for (entry, _) in layouts.sorted(by: { ($0.entry.begin, $0.entry.end) < ($1.entry.begin, $1.entry.end) }) {
            guard entry.begin == covered else {
                throw HeaderProblem(.offsetsNotContiguous(tensor: entry.name, begin: entry.begin, expectedBegin: covered))
            }
            covered = entry.end
        }
        guard covered == dataSize else { throw HeaderProblem(.trailingData(covered: covered, dataSize: dataSize)) }

        var tensors: [String: Tensor] = [:]
        for (entry, dtype) in layouts {
            let tensor = Tensor(zeros: Shape(entry.shape), dtype: dtype)
            tensor.storage.pointer.copyMemory(from: bytes.baseAddress! + dataStart + entry.begin,
                                              byteCount: tensor.byteCount)
            tensors[entry.name] = tensor
        }
        return SafetensorsFile(tensors: tensors, metadata: header.metadata)
    }

    /// `product(shape) * dtype.byteSize`, or nil if it overflows.
    private static func checkedByteCount(_ shape: [Int], _ dtype: DType) -> Int? {
        var count = dtype.byteSize
        for extent in shape {
            let (product, overflow) = count.multipliedReportingOverflow(by: extent)
            if overflow { return nil }
            count = product
        }
        return count
    }

    // MARK: Writing

    /// Writes the file atomically: to a temporary file beside `url`, flushed to disk, then
    /// renamed over `url`.
    public func write(to url: URL) throws {
        let data = try encoded(source: url.path)
        do {
            try writeAtomically(data, to: url)
        } catch let error as AtomicWriteError {
            throw SafetensorsError(file: url.path, problem: .writeFailed(reason: error.reason))
        }
    }

    /// The file's bytes, as the Python library writes them: `__metadata__` first (omitted when
    /// empty; keys sorted here, for determinism), then tensors by dtype, widest first so that
    /// every tensor is aligned to its element size, and by name within a dtype; the header is
    /// padded with spaces to a multiple of 8 bytes.
    public func encoded() throws -> Data {
        try encoded(source: "<memory>")
    }

    private func encoded(source: String) throws -> Data {
        let layout = try SafetensorsFile.layout(tensors.mapValues { TensorDescription(dtype: $0.dtype, shape: $0.shape) },
                                                metadata: metadata, source: source)
        var data = Data(capacity: layout.byteCount)
        withUnsafeBytes(of: UInt64(layout.header.count).littleEndian) { data.append(contentsOf: $0) }
        data.append(contentsOf: layout.header)
        for name in layout.order {
            let tensor = tensors[name]!
            data.append(tensor.storage.pointer.assumingMemoryBound(to: UInt8.self), count: tensor.byteCount)
        }
        return data
    }

    /// The size in bytes of the file ``encoded()`` would produce for tensors of these dtypes
    /// and shapes and this metadata, computed without the tensors' data.
    public static func encodedByteCount(tensors: [String: TensorDescription], metadata: [String: String]) throws -> Int {
        try layout(tensors, metadata: metadata, source: "<memory>").byteCount
    }

    /// The padded header, the tensors in file order, and the whole file's size.
    private static func layout(_ tensors: [String: TensorDescription], metadata: [String: String],
                               source: String) throws -> (header: [UInt8], order: [String], byteCount: Int) {
        guard tensors["__metadata__"] == nil else {
            throw SafetensorsError(file: source, problem: .reservedTensorName)
        }
        let order = tensors.keys.sorted { a, b in
            let (rankA, rankB) = (tensors[a]!.dtype.safetensorsRank, tensors[b]!.dtype.safetensorsRank)
            return rankA != rankB ? rankA > rankB : a.utf8.lexicographicallyPrecedes(b.utf8)
        }
        var entries: [String] = []
        if !metadata.isEmpty {
            let pairs = metadata.sorted { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }
                .map { jsonString($0.key) + ":" + jsonString($0.value) }
            entries.append(#""__metadata__":{"# + pairs.joined(separator: ",") + "}")
        }
        var offset = 0
        for name in order {
            let tensor = tensors[name]!
            let shape = tensor.shape.dimensions.map(String.init).joined(separator: ",")
            entries.append(jsonString(name) + #":{"dtype":""# + tensor.dtype.safetensorsName + #"","shape":["#
                           + shape + #"],"data_offsets":["# + "\(offset),\(offset + tensor.byteCount)]}")
            offset += tensor.byteCount
        }
        var header = Array(("{" + entries.joined(separator: ",") + "}").utf8)
        header += repeatElement(UInt8(ascii: " "), count: (8 - header.count % 8) % 8)
        return (header, order, 8 + header.count + offset)
    }
}

/// A tensor's dtype and shape: what the header says about it.
public struct TensorDescription: Hashable, Sendable {
    public var dtype: DType
    public var shape: Shape

    public init(dtype: DType, shape: Shape) {
        self.dtype = dtype
        self.shape = shape
    }

    /// `product(shape) * dtype.byteSize`.
    public var byteCount: Int { shape.elementCount * dtype.byteSize }
}

extension DType {
    /// Position in the safetensors library's `Dtype` enum, which orders tensors when writing.
    fileprivate var safetensorsRank: Int {
        switch self {
        case .u8: return 0
        case .i8: return 1
        case .f16: return 2
        case .bf16: return 3
        case .i32: return 4
        case .f32: return 5
        case .i64: return 6
        }
    }
}

/// A JSON string literal escaped as `serde_json` (used by the Python library) escapes it:
/// quote, backslash and control characters only; everything else is written as UTF-8.
private func jsonString(_ s: String) -> String {
    var result = "\""
    for scalar in s.unicodeScalars {
        switch scalar {
        case "\"": result += "\\\""
        case "\\": result += "\\\\"
        case "\u{08}": result += "\\b"
        case "\u{0C}": result += "\\f"
        case "\n": result += "\\n"
        case "\r": result += "\\r"
        case "\t": result += "\\t"
        case _ where scalar.value < 0x20:
            let hex = String(scalar.value, radix: 16)
            result += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
        default: result.unicodeScalars.append(scalar)
        }
    }
    return result + "\""
}

/// A problem found while decoding, before the file name is attached.
private struct HeaderProblem: Error {
    var problem: SafetensorsError.Problem
    init(_ problem: SafetensorsError.Problem) { self.problem = problem }
}

/// The header's JSON, field types checked; sizes and offsets are checked by the caller.
private struct Header: Decodable {
    struct Entry {
        var name: String
        var dtype: String
        var shape: [Int]
        var begin: Int
        var end: Int
    }

    /// Entries sorted by name. Keys are visited in that order too, so that the first problem
    /// reported does not depend on hashing.
    var entries: [Entry] = []
    var metadata: [String: String] = [:]

    init(from decoder: Decoder) throws {
        guard let object = try? decoder.container(keyedBy: Key.self) else { throw HeaderProblem(.headerNotObject) }
        for key in Header.sorted(object.allKeys) {
            if key.stringValue == "__metadata__" {
                metadata = try Header.metadata(object, key)
            } else {
                entries.append(try Header.entry(object, key))
            }
        }
    }

    private static func sorted(_ keys: [Key]) -> [Key] {
        keys.sorted { $0.stringValue.utf8.lexicographicallyPrecedes($1.stringValue.utf8) }
    }

    private static func metadata(_ object: KeyedDecodingContainer<Key>, _ key: Key) throws -> [String: String] {
        if (try? object.decodeNil(forKey: key)) == true { return [:] }
        guard let values = try? object.nestedContainer(keyedBy: Key.self, forKey: key) else {
            throw HeaderProblem(.metadataNotObject)
        }
        var result: [String: String] = [:]
        for name in sorted(values.allKeys) {
            guard let value = try? values.decode(String.self, forKey: name) else {
                throw HeaderProblem(.metadataValueNotString(key: name.stringValue))
            }
            result[name.stringValue] = value
        }
        return result
    }

    private static func entry(_ object: KeyedDecodingContainer<Key>, _ key: Key) throws -> Entry {
        let tensor = key.stringValue
        guard let fields = try? object.nestedContainer(keyedBy: Key.self, forKey: key) else {
            throw HeaderProblem(.entryNotObject(tensor: tensor))
        }
        func field<T: Decodable>(_ name: String, _ expected: String) throws -> T {
            let key = Key(name)
            guard fields.contains(key) else { throw HeaderProblem(.missingField(tensor: tensor, field: name)) }
            guard let value = try? fields.decode(T.self, forKey: key) else {
                throw HeaderProblem(.wrongFieldType(tensor: tensor, field: name, expected: expected))
            }
            return value
        }
        let dtype: String = try field("dtype", "a string")
        let shape: [Int] = try field("shape", "an array of integers")
        let offsetsExpected = "two non-negative integers [begin, end]"
        let offsets: [Int] = try field("data_offsets", offsetsExpected)
        guard offsets.count == 2, offsets.allSatisfy({ $0 >= 0 }) else {
            throw HeaderProblem(.wrongFieldType(tensor: tensor, field: "data_offsets", expected: offsetsExpected))
        }
        return Entry(name: tensor, dtype: dtype, shape: shape, begin: offsets[0], end: offsets[1])
    }

    struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(_ string: String) { stringValue = string }
        init?(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }
}
