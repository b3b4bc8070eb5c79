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

    /// Reads the file at `path` and checks that its magic number is `magic` and that it holds
    /// exactly the elements its header announces.
    public static func read(_ path: String, magic: UInt32) throws -> IDXFile {
        try decode(FileBytes.read(path), magic: magic, source: path)
    }

    /// Decodes the (decompressed) bytes of an IDX file; `source` names them in errors.
    public static func decode(_ bytes: [UInt8], magic: UInt32, source: String) throws -> IDXFile {
        func bigEndian(at offset: Int) -> UInt32 {
            bytes[offset..<offset + 4].reduce(0) { $0 << 8 | UInt32($1) }
        }
        guard bytes.count >= 4 else {
            throw DatasetError(file: source, problem: .truncated(expectedBytes: 4, actualBytes: bytes.count))
        }
        let found = bigEndian(at: 0)
        guard found == magic else { throw DatasetError(file: source, problem: .wrongMagic(expected: magic, found: found)) }
        let rank = Int(magic & 0xFF)
        let headerSize = 4 + 4 * rank
        guard bytes.count >= headerSize else {
            throw DatasetError(file: source, problem: .truncated(expectedBytes: headerSize, actualBytes: bytes.count))
        }
        let dimensions = (0..<rank).map { Int(bigEndian(at: 4 + 4 * $0)) }
        let (elementCount, overflow) = dimensions.reduce((1, false)) { partial, extent in
            let (product, overflowed) = partial.0.multipliedReportingOverflow(by: extent)
            return (product, partial.1 || overflowed)
        }
        let expected = headerSize + elementCount
        guard !overflow, bytes.count >= expected else {
            throw DatasetError(file: source, problem: .truncated(expectedBytes: overflow ? Int.max : expected, actualBytes: bytes.count))
        }
        guard bytes.count == expected else {
            throw DatasetError(file: source, problem: .trailingBytes(expectedBytes: expected, actualBytes: bytes.count))
        }
        return IDXFile(dimensions: dimensions, elements: Array(bytes[headerSize...]))
    }
}
