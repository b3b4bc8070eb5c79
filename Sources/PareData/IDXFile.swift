/// An IDX file of unsigned bytes, the format of MNIST and Fashion-MNIST, gzipped or not.
///
/// Layout: a big-endian 32-bit magic number `0x000008NN` (`08`: unsigned bytes, `NN`: the
/// number of dimensions), then `NN` big-endian 32-bit extents, then the elements row-major.
/// Image files are `0x00000803` (count, rows, columns), label files `0x00000801` (count).
public struct IDXFile: Sendable {
    public static let imagesMagic: UInt32 = 0x0000_0803
    public static let labelsMagic: UInt32 = 0x0000_0801

    public var dimensions: [Int]
    public var elements: [UInt8]

    /// The most elements an IDX file may announce: 2^31 (2 GiB of bytes, some 2.7 million
    /// 28x28 images), far beyond MNIST's 47 million.
    public static let maxElementCount = 1 << 31

    /// Reads the file at `path` and checks that its magic number is `magic` and that it holds
    /// exactly the elements its header announces. The header is read and checked first, and
    /// no more than it announces is inflated into memory.
    public static func read(_ path: String, magic: UInt32) throws -> IDXFile {
        let (bytes, totalCount) = try FileBytes.read(path, headerSize: headerSize(magic)) { header in
            try expectedByteCount(header: header, magic: magic, source: path)
        }
        return try decode(bytes, totalCount: totalCount, magic: magic, source: path)
    }

    /// Decodes the (decompressed) bytes of an IDX file; `source` names them in errors.
    public static func decode(_ bytes: [UInt8], magic: UInt32, source: String) throws -> IDXFile {
        try decode(bytes, totalCount: bytes.count, magic: magic, source: source)
    }

    private static func headerSize(_ magic: UInt32) -> Int { 4 + 4 * Int(magic & 0xFF) }

    /// The extents in a header of `headerSize(magic)` bytes.
    private static func dimensions(_ header: [UInt8], rank: Int) -> [Int] {
        (0..<rank).map { axis in header[(4 + 4 * axis)..<(8 + 4 * axis)].reduce(0) { $0 << 8 | Int($1) } }
    }

    /// The size of the whole file its header announces, after checking the magic number and
    /// that the element count is within ``maxElementCount``.
    private static func expectedByteCount(header: [UInt8], magic: UInt32, source: String) throws -> Int {
        let found = header.prefix(4).reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        guard found == magic else { throw DatasetError(file: source, problem: .wrongMagic(expected: magic, found: found)) }
        let dimensions = dimensions(header, rank: Int(magic & 0xFF))
        var elementCount = 1
        for extent in dimensions {
            let (product, overflow) = elementCount.multipliedReportingOverflow(by: extent)
            guard !overflow, product <= maxElementCount else {
                let field = "dimensions \(dimensions.map(String.init).joined(separator: "x"))"
                throw DatasetError(file: source, problem: .headerTooLarge(field: field, limit: "\(maxElementCount) elements"))
            }
            elementCount = product
        }
        return header.count + elementCount
    }

    /// `bytes`: the first bytes of a file of `totalCount` (decompressed) bytes, all of them or
    /// at least as many as its header announces.
    private static func decode(_ bytes: [UInt8], totalCount: Int, magic: UInt32, source: String) throws -> IDXFile {
        guard bytes.count >= 4 else {
            throw DatasetError(file: source, problem: .truncated(expectedBytes: 4, actualBytes: totalCount))
        }
        let headerSize = headerSize(magic)
        let found = bytes.prefix(4).reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        guard found == magic else { throw DatasetError(file: source, problem: .wrongMagic(expected: magic, found: found)) }
        guard bytes.count >= headerSize else {
            throw DatasetError(file: source, problem: .truncated(expectedBytes: headerSize, actualBytes: totalCount))
        }
        let header = Array(bytes.prefix(headerSize))
        let expected = try expectedByteCount(header: header, magic: magic, source: source)
        guard totalCount >= expected else {
            throw DatasetError(file: source, problem: .truncated(expectedBytes: expected, actualBytes: totalCount))
        }
        guard totalCount == expected else {
            throw DatasetError(file: source, problem: .trailingBytes(expectedBytes: expected, actualBytes: totalCount))
        }
        return IDXFile(dimensions: dimensions(header, rank: Int(magic & 0xFF)), elements: Array(bytes[headerSize..<expected]))
    }
}
