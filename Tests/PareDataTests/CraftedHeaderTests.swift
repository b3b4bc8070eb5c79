import Foundation
@testable import PareData
import XCTest

/// Headers that announce absurd sizes: refused, naming the file and the field, before the
/// buffer they ask for is allocated (or the file inflated).
final class CraftedHeaderTests: XCTestCase {
    private func isUndecodable(_ problem: DatasetError.Problem, containing text: String) -> Bool {
        if case let .undecodableImage(reason) = problem { return reason.contains(text) }
        return false
    }

    /// 60000 x 60000 is within PNG's and libpng's limits, but its RGBA buffer would be 14 GB.
    func testPNGHeaderAnnouncingTooManyPixels() throws {
        let file = path(try temporaryDirectory(self), "huge.png")
        try write(pngBytes(width: 60_000, height: 60_000, bitDepth: 8, colorType: 2, rows: [[1, 2, 3]]), to: file)
        assertDatasetError(try ImageDecoder.decode(file: file), file: file) {
            self.isUndecodable($0, containing: "PNG: header width 60000 x height 60000 is 3600000000 pixels, more than the 134217728")
        }
    }

    /// 8000 x 8000 is within the pixel bound (256 MB of RGBA), but a file of a few dozen bytes
    /// cannot hold its rows: refused from the header and the file's size, before allocating.
    func testPNGHeaderAnnouncingMoreRowsThanTheFileCanHold() throws {
        let file = path(try temporaryDirectory(self), "short.png")
        let bytes = pngBytes(width: 8000, height: 8000, bitDepth: 8, colorType: 2, rows: [[1, 2, 3]])
        try write(bytes, to: file)
        assertDatasetError(try ImageDecoder.decode(file: file), file: file) {
            self.isUndecodable($0, containing: "PNG: header width 8000 x height 8000 needs at least 8008000 bytes of rows, "
                                + "more than a file of \(bytes.count) bytes can hold")
        }
        // An image whose rows a file of this size could hold is not refused by the bound
        // (libpng then finds its data missing).
        let fits = pngBytes(width: 8, height: 100 * bytes.count, bitDepth: 8, colorType: 0, rows: [[1]])
        try write(fits, to: file)
        assertDatasetError(try ImageDecoder.decode(file: file), file: file) {
            if case let .undecodableImage(reason) = $0 { return !reason.contains("can hold") }
            return false
        }
    }

    /// An 8x8 JPEG whose frame header (SOF0) is patched to say 60000 x 60000.
    func testJPEGHeaderAnnouncingTooManyPixels() throws {
        var bytes = try jpegBytes(width: 8, height: 8, components: 1, pixels: [UInt8](repeating: 128, count: 64))
        let frame = try XCTUnwrap((0..<(bytes.count - 1)).first { bytes[$0] == 0xFF && bytes[$0 + 1] == 0xC0 }, "no SOF0 marker")
        XCTAssertEqual(Array(bytes[(frame + 5)...(frame + 8)]), [0, 8, 0, 8], "SOF0: height, then width")
        bytes.replaceSubrange((frame + 5)...(frame + 8), with: [0xEA, 0x60, 0xEA, 0x60])
        let file = path(try temporaryDirectory(self), "huge.jpg")
        try write(bytes, to: file)
        assertDatasetError(try ImageDecoder.decode(file: file), file: file) {
            self.isUndecodable($0, containing: "JPEG: header width 60000 x height 60000 is 3600000000 pixels, more than the 134217728")
        }
        // The unpatched image still decodes.
        bytes.replaceSubrange((frame + 5)...(frame + 8), with: [0, 8, 0, 8])
        try write(bytes, to: file)
        let image = try ImageDecoder.decode(file: file)
        XCTAssertEqual([image.width, image.height], [8, 8])
        XCTAssertEqual(image.pixels.count, 8 * 8 * 3)
    }

    /// 8000 x 8000 is within the pixel bound, but a file of a few hundred bytes cannot code its
    /// 10^6 blocks (at least a bit each): refused from the header and the file's size, before
    /// the 192 MB pixel buffer is allocated or libjpeg pads the missing data and decodes it all.
    func testJPEGHeaderAnnouncingMorePixelsThanTheFileCanHold() throws {
        var bytes = try jpegBytes(width: 8, height: 8, components: 1, pixels: [UInt8](repeating: 128, count: 64))
        let frame = try XCTUnwrap((0..<(bytes.count - 1)).first { bytes[$0] == 0xFF && bytes[$0 + 1] == 0xC0 }, "no SOF0 marker")
        bytes.replaceSubrange((frame + 5)...(frame + 8), with: [0x1F, 0x40, 0x1F, 0x40])
        let file = path(try temporaryDirectory(self), "short.jpg")
        try write(bytes, to: file)
        assertDatasetError(try ImageDecoder.decode(file: file), file: file) {
            self.isUndecodable($0, containing: "JPEG: header width 8000 x height 8000 is 64000000 pixels, more than a file of "
                                + "\(bytes.count) bytes can hold")
        }
        // Exactly 512 pixels per byte is not refused by the bound. (libjpeg then meets the EOI
        // marker where the second row's data should be, warns, and pads the rest with grey, as
        // PIL's decoder does too.)
        let height = 64 * bytes.count
        bytes.replaceSubrange((frame + 5)...(frame + 8), with: [UInt8(height >> 8), UInt8(height & 0xFF), 0, 8])
        try write(bytes, to: file)
        let padded = try ImageDecoder.decode(file: file)
        XCTAssertEqual([padded.width, padded.height], [8, height])
        XCTAssertEqual(padded.width * padded.height, ImageDecoder.maxJPEGPixelsPerByte * bytes.count)
    }

    /// A progressive JPEG whose last scan is repeated: with 56 scans it decodes (libjpeg only
    /// warns about the repeated refinement), with 126 it is refused when scan 101 begins.
    func testJPEGWithTooManyScans() throws {
        let pixels = (0..<256).map { UInt8(truncatingIfNeeded: $0 * 7) }
        let progressive = try jpegBytes(width: 16, height: 16, components: 1, pixels: pixels, progressive: true)
        let markers = (0..<(progressive.count - 1)).filter { progressive[$0] == 0xFF && progressive[$0 + 1] == 0xDA }
        XCTAssertEqual(markers.count, 6, "libjpeg's progression for grey has 6 scans")
        XCTAssertEqual(Array(progressive.suffix(2)), [0xFF, 0xD9], "ends with EOI")
        let last = try XCTUnwrap(markers.last)
        let scan = Array(progressive[last..<(progressive.count - 2)])
        func repeated(_ times: Int) -> [UInt8] {
            Array(progressive[..<last]) + Array([[UInt8]](repeating: scan, count: times + 1).joined()) + [0xFF, 0xD9]
        }
        let file = path(try temporaryDirectory(self), "scans.jpg")
        try write(progressive, to: file)
        XCTAssertEqual(try ImageDecoder.decode(file: file).pixels.count, 16 * 16 * 3)
        try write(repeated(50), to: file)
        XCTAssertEqual(try ImageDecoder.decode(file: file).pixels.count, 16 * 16 * 3, "56 scans are within the bound")
        try write(repeated(120), to: file)
        assertDatasetError(try ImageDecoder.decode(file: file), file: file) {
            self.isUndecodable($0, containing: "JPEG: more than \(ImageDecoder.maxJPEGScanCount) scans (scan 101)")
        }
    }

    /// A gzipped IDX file whose extents multiply past the bound is refused from its header.
    func testGzippedIDXHeaderAnnouncingTooManyElements() throws {
        let file = path(try temporaryDirectory(self), "train-images-idx3-ubyte.gz")
        try writeGzip(idxBytes(magic: IDXFile.imagesMagic, dimensions: [100_000, 1000, 1000], elements: [1, 2, 3]), to: file)
        assertDatasetError(try IDXFile.read(file, magic: IDXFile.imagesMagic), file: file) {
            $0 == .headerTooLarge(field: "dimensions 100000x1000x1000", limit: "2147483648 elements")
        }
        let message = "\(DatasetError(file: file, problem: .headerTooLarge(field: "dimensions 100000x1000x1000", limit: "2147483648 elements")))"
        XCTAssertTrue(message.hasPrefix("\(file): the header's dimensions 100000x1000x1000 announces more than"), message)
        // Extents whose product overflows Int.
        try writeGzip(idxBytes(magic: IDXFile.imagesMagic, dimensions: [0xFFFF_FFFF, 0xFFFF_FFFF, 0xFFFF_FFFF], elements: []), to: file)
        assertDatasetError(try IDXFile.read(file, magic: IDXFile.imagesMagic), file: file) {
            if case .headerTooLarge = $0 { return true }
            return false
        }
    }

    /// Only what the header announces is kept; what follows is counted (a small header before
    /// a stream that inflates to 32 MB of zeros) and reported as trailing data.
    func testGzippedIDXKeepsOnlyWhatItsHeaderAnnounces() throws {
        let file = path(try temporaryDirectory(self), "train-labels-idx1-ubyte.gz")
        let labels: [UInt8] = [3, 1, 4, 1, 5]
        try writeGzip(idxBytes(magic: IDXFile.labelsMagic, dimensions: [5], elements: labels), to: file)
        let read = try IDXFile.read(file, magic: IDXFile.labelsMagic)
        XCTAssertEqual(read.dimensions, [5])
        XCTAssertEqual(read.elements, labels)

        try writeGzip(idxBytes(magic: IDXFile.labelsMagic, dimensions: [5], elements: labels + [UInt8](repeating: 0, count: 32 << 20)),
                      to: file)
        assertDatasetError(try IDXFile.read(file, magic: IDXFile.labelsMagic), file: file) {
            $0 == .trailingBytes(expectedBytes: 13, actualBytes: 13 + (32 << 20))
        }
        let (bytes, total) = try FileBytes.read(file, headerSize: 8) { _ in 13 }
        XCTAssertEqual(bytes.count, 13, "kept beyond the header's announcement")
        XCTAssertEqual(total, 13 + (32 << 20))
    }
}
