import CJPEG
import CZlib
import Foundation
import PareCore
import PareData
import XCTest

/// A fresh directory under the system's temporary directory, removed when the test ends.
func temporaryDirectory(_ test: XCTestCase) throws -> String {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("PareDataTests-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    test.addTeardownBlock { try? FileManager.default.removeItem(at: url) }
    return url.path
}

func path(_ directory: String, _ components: String...) -> String {
    components.reduce(directory) { ($0 as NSString).appendingPathComponent($1) }
}

func write(_ bytes: [UInt8], to file: String) throws {
    try FileManager.default.createDirectory(atPath: (file as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
    try Data(bytes).write(to: URL(fileURLWithPath: file))
}

/// Writes `bytes` gzip-compressed with zlib.
func writeGzip(_ bytes: [UInt8], to file: String) throws {
    guard let handle = gzopen(file, "wb") else { throw CocoaError(.fileWriteUnknown) }
    let written = bytes.withUnsafeBytes { gzwrite(handle, $0.baseAddress, UInt32($0.count)) }
    XCTAssertEqual(Int(written), bytes.count)
    XCTAssertEqual(gzclose(handle), Z_OK)
}

func bigEndian(_ value: UInt32) -> [UInt8] {
    [UInt8(value >> 24), UInt8(value >> 16 & 0xFF), UInt8(value >> 8 & 0xFF), UInt8(value & 0xFF)]
}

/// The bytes of an IDX file: magic, extents, elements.
func idxBytes(magic: UInt32, dimensions: [Int], elements: [UInt8]) -> [UInt8] {
    bigEndian(magic) + dimensions.flatMap { bigEndian(UInt32($0)) } + elements
}

/// Seeded random bytes.
func randomBytes(_ count: Int, seed: UInt64) -> [UInt8] {
    var generator = SeededGenerator(seed: seed)
    return (0..<count).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
}

/// The `u8` elements of a tensor.
func byteValues(_ tensor: Tensor) -> [UInt8] {
    XCTAssertEqual(tensor.dtype, .u8)
    return Array(UnsafeBufferPointer(start: tensor.storage.pointer.assumingMemoryBound(to: UInt8.self), count: tensor.elementCount))
}

/// An f32 `[C, H, W]` image with the given values.
func image(_ channels: Int, _ height: Int, _ width: Int, _ values: [Float]) throws -> Tensor {
    try Tensor(shape: [channels, height, width], values: values)
}

/// An f32 image of seeded uniform values in [0, 1).
func randomImage(_ shape: Shape, seed: UInt64) -> Tensor {
    var generator = SeededGenerator(seed: seed)
    return Tensor.randomUniform(shape, generator: &generator)
}

/// Asserts that the error thrown by `body` is a ``DatasetError`` about `file` with a problem
/// accepted by `check`, and that its description names the file.
func assertDatasetError<T>(_ body: @autoclosure () throws -> T, file expectedFile: String,
                           _ check: (DatasetError.Problem) -> Bool,
                           file: StaticString = #filePath, line: UInt = #line) {
    do {
        _ = try body()
        XCTFail("no error thrown", file: file, line: line)
    } catch let error as DatasetError {
        XCTAssertEqual(error.file, expectedFile, file: file, line: line)
        XCTAssertTrue(error.description.contains(expectedFile), error.description, file: file, line: line)
        XCTAssertTrue(check(error.problem), "unexpected problem: \(error.problem)", file: file, line: line)
    } catch {
        XCTFail("unexpected error \(error)", file: file, line: line)
    }
}

// MARK: PNG and JPEG fixtures

/// A PNG file written by hand (signature, IHDR, optional PLTE/tRNS, one zlib IDAT, IEND),
/// so that tests control bit depth and colour type exactly. `rows` are the raw scanline
/// bytes without filter bytes.
func pngBytes(width: Int, height: Int, bitDepth: UInt8, colorType: UInt8, rows: [[UInt8]],
              palette: [UInt8]? = nil, transparency: [UInt8]? = nil) -> [UInt8] {
    func chunk(_ type: String, _ data: [UInt8]) -> [UInt8] {
        let body = Array(type.utf8) + data
        let crc = body.withUnsafeBufferPointer { UInt32(crc32(0, $0.baseAddress, UInt32($0.count))) }
        return bigEndian(UInt32(data.count)) + body + bigEndian(crc)
    }
    let raw: [UInt8] = rows.flatMap { row -> [UInt8] in [0] + row }
    var compressedSize = compressBound(UInt(raw.count))
    var compressed = [UInt8](repeating: 0, count: Int(compressedSize))
    XCTAssertEqual(compress(&compressed, &compressedSize, raw, UInt(raw.count)), Z_OK)
    var result: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
    result += chunk("IHDR", bigEndian(UInt32(width)) + bigEndian(UInt32(height)) + [bitDepth, colorType, 0, 0, 0])
    if let palette { result += chunk("PLTE", palette) }
    if let transparency { result += chunk("tRNS", transparency) }
    result += chunk("IDAT", Array(compressed.prefix(Int(compressedSize))))
    result += chunk("IEND", [])
    return result
}

/// An 8-bit RGB PNG of interleaved `pixels`.
func rgbPNG(width: Int, height: Int, pixels: [UInt8]) -> [UInt8] {
    pngBytes(width: width, height: height, bitDepth: 8, colorType: 2,
             rows: (0..<height).map { Array(pixels[($0 * width * 3)..<(($0 + 1) * width * 3)]) })
}

/// A JPEG of 8-bit grey (`components` 1) or interleaved RGB (3) pixels, quality 100,
/// baseline or progressive (libjpeg's simple progression).
func jpegBytes(width: Int, height: Int, components: Int, pixels: [UInt8], progressive: Bool = false) throws -> [UInt8] {
    var output: UnsafeMutablePointer<UInt8>?
    var size: UInt = 0
    var message = [CChar](repeating: 0, count: 256)
    let status = pare_jpeg_encode(pixels, Int32(width), Int32(height), Int32(components), 100, progressive ? 1 : 0, &output, &size,
                                  &message, message.count)
    guard status == 0, let output else {
        let text = message.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        throw NSError(domain: "jpeg", code: 1, userInfo: [NSLocalizedDescriptionKey: text])
    }
    defer { free(output) }
    return Array(UnsafeBufferPointer(start: output, count: Int(size)))
}
