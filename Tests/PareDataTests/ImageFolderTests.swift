import Foundation
import PareCore
import PareData
import XCTest

final class ImageFolderTests: XCTestCase {
    /// `[3, H, W]` bytes of an interleaved RGB image.
    func planar(_ rgb: [UInt8], width: Int, height: Int) -> [UInt8] {
        (0..<3).flatMap { c in (0..<(width * height)).map { rgb[3 * $0 + c] } }
    }

    func testDecodesEveryPNGKindAndJPEGToRGB() throws {
        let root = try temporaryDirectory(self)
        let rgb = randomBytes(4 * 3 * 3, seed: 3)
        // Class folders are sorted: "cat" is label 0, "dog" label 1.
        try write(rgbPNG(width: 4, height: 3, pixels: rgb), to: path(root, "dog", "a_rgb.png"))
        let grey = randomBytes(4 * 3, seed: 4)
        try write(pngBytes(width: 4, height: 3, bitDepth: 8, colorType: 0, rows: (0..<3).map { Array(grey[($0 * 4)..<($0 * 4 + 4)]) }),
                  to: path(root, "dog", "b_grey.PNG"))
        // Palette with transparency: alpha is dropped, colours kept.
        let palette: [UInt8] = [10, 20, 30, 200, 100, 0]
        try write(pngBytes(width: 4, height: 3, bitDepth: 8, colorType: 3, rows: Array(repeating: [0, 1, 1, 0], count: 3),
                           palette: palette, transparency: [0, 128]), to: path(root, "cat", "c_palette.png"))
        // Grey + alpha and RGBA: alpha dropped, not composited.
        try write(pngBytes(width: 4, height: 3, bitDepth: 8, colorType: 4, rows: Array(repeating: [50, 0, 60, 255, 70, 10, 80, 128], count: 3)),
                  to: path(root, "cat", "d_grey_alpha.png"))
        try write(pngBytes(width: 4, height: 3, bitDepth: 8, colorType: 6,
                           rows: Array(repeating: [1, 2, 3, 0, 4, 5, 6, 9, 7, 8, 9, 255, 10, 11, 12, 77], count: 3)),
                  to: path(root, "cat", "e_rgba.png"))
        // 16-bit grey: reduced to 8 bits as v / 257.
        try write(pngBytes(width: 4, height: 3, bitDepth: 16, colorType: 0,
                           rows: Array(repeating: [0x00, 0x00, 0x80, 0x80, 0xFF, 0xFF, 0x12, 0x34], count: 3)),
                  to: path(root, "cat", "f_grey16.png"))
        try write(jpegBytes(width: 4, height: 3, components: 3, pixels: Array(repeating: [200, 100, 50], count: 12).flatMap { $0 }),
                  to: path(root, "dog", "g_rgb.jpg"))
        try write(jpegBytes(width: 4, height: 3, components: 1, pixels: Array(repeating: 77, count: 12)),
                  to: path(root, "dog", "h_grey.jpeg"))
        try write(Array("not an image".utf8), to: path(root, "dog", "notes.txt"))
        try write([1], to: path(root, "dog", ".hidden"))

        let folder = try ImageFolder(root: root, geometry: .resize(height: 3, width: 4))
        XCTAssertEqual(folder.classNames, ["cat", "dog"])
        XCTAssertEqual(folder.count, 8)
        XCTAssertEqual(folder.sampleShape, [3, 3, 4])
        XCTAssertEqual(folder.ignoredFiles, [path(root, "dog", "notes.txt")])
        XCTAssertEqual((0..<8).map(folder.label(at:)), [0, 0, 0, 0, 1, 1, 1, 1])
        func pixels(_ index: Int) throws -> [UInt8] {
            let sample = try folder.sample(at: index)
            XCTAssertEqual(sample.image.shape, [3, 3, 4])
            return byteValues(sample.image)
        }
        // cat: palette, grey+alpha, rgba, grey16
        let paletteRow: [[UInt8]] = [[10, 200, 200, 10], [20, 100, 100, 20], [30, 0, 0, 30]]
        XCTAssertEqual(try pixels(0), (0..<3).flatMap { c in Array(repeating: paletteRow[c], count: 3).flatMap { $0 } })
        XCTAssertEqual(try pixels(1), Array(repeating: [50, 60, 70, 80], count: 9).flatMap { $0 })
        XCTAssertEqual(try pixels(2), [[1, 4, 7, 10], [2, 5, 8, 11], [3, 6, 9, 12]].flatMap { Array(repeating: $0, count: 3).flatMap { $0 } })
        XCTAssertEqual(try pixels(3), Array(repeating: [0, 128, 255, 18], count: 9).flatMap { $0 })
        // dog: rgb png, grey png, rgb jpeg, grey jpeg
        XCTAssertEqual(try pixels(4), planar(rgb, width: 4, height: 3))
        XCTAssertEqual(try pixels(5), grey + grey + grey)
        let jpeg = try pixels(6)
        for (c, value) in [200, 100, 50].enumerated() {
            for pixel in jpeg[(c * 12)..<((c + 1) * 12)] { XCTAssertEqual(Int(pixel), value, accuracy: 2) }
        }
        XCTAssertTrue(try pixels(7).allSatisfy { abs(Int($0) - 77) <= 1 })
    }

    func testResizeShorterSideThenCenterCrop() throws {
        let root = try temporaryDirectory(self)
        let rgb = randomBytes(6 * 4 * 3, seed: 9)
        try write(rgbPNG(width: 6, height: 4, pixels: rgb), to: path(root, "a", "x.png"))
        // Shorter side already 4: no resampling; the centre 4x4 starts at column round(2/2) = 1.
        let folder = try ImageFolder(root: root, geometry: .resizeAndCenterCrop(resize: 4, crop: 4))
        let expected = planar(rgb, width: 6, height: 4)
        let cropped = (0..<3).flatMap { c in (0..<4).flatMap { y in (1..<5).map { x in expected[(c * 4 + y) * 6 + x] } } }
        XCTAssertEqual(byteValues(try folder.sample(at: 0).image), cropped)

        // Enlarging [0, 255] to width 4 is bilinear with half-pixel centres: 0, 63.75, 191.25, 255.
        let wide = try temporaryDirectory(self)
        try write(rgbPNG(width: 2, height: 1, pixels: [0, 0, 0, 255, 255, 255]), to: path(wide, "a", "x.png"))
        let resized = try ImageFolder(root: wide, geometry: .resize(height: 1, width: 4))
        XCTAssertEqual(byteValues(try resized.sample(at: 0).image), Array(repeating: [0, 64, 191, 255], count: 3).flatMap { $0 })
    }

    func testFolderErrorsNameTheFolder() throws {
        let root = try temporaryDirectory(self)
        assertDatasetError(try ImageFolder(root: path(root, "missing"), geometry: .resize(height: 2, width: 2)),
                           file: path(root, "missing")) {
            if case .fileMissing = $0 { return true }
            return false
        }
        assertDatasetError(try ImageFolder(root: root, geometry: .resize(height: 2, width: 2)), file: root) { $0 == .noClassFolders }
        try write(rgbPNG(width: 1, height: 1, pixels: [1, 2, 3]), to: path(root, "a", "x.png"))
        try write(Array("readme".utf8), to: path(root, "b", "readme.txt"))
        assertDatasetError(try ImageFolder(root: root, geometry: .resize(height: 2, width: 2)), file: path(root, "b")) {
            $0 == .emptyClassFolder
        }
    }

    func testBadImagesThrowNamingTheFileOrAreSkippedAndCounted() throws {
        let root = try temporaryDirectory(self)
        let good = rgbPNG(width: 2, height: 2, pixels: randomBytes(12, seed: 1))
        try write(good, to: path(root, "a", "1_good.png"))
        try write(Array(good.prefix(good.count - 20)), to: path(root, "a", "2_truncated.png"))
        try write(Array("garbage".utf8), to: path(root, "a", "3_garbage.jpg"))
        let jpeg = try jpegBytes(width: 64, height: 64, components: 3, pixels: randomBytes(64 * 64 * 3, seed: 2))
        try write(jpeg, to: path(root, "b", "4_good.jpg"))
        // Cut inside the entropy-coded data, which libjpeg alone would pad with grey.
        try write(Array(jpeg.prefix(jpeg.count * 3 / 4)), to: path(root, "b", "5_truncated.jpg"))
        var corrupt = good
        corrupt[45] ^= 0xFF  // inside the IDAT data
        try write(corrupt, to: path(root, "b", "6_corrupt.png"))

        let strict = try ImageFolder(root: root, geometry: .resize(height: 2, width: 2))
        XCTAssertEqual(strict.count, 6)
        XCTAssertNoThrow(try strict.sample(at: 0))
        XCTAssertNoThrow(try strict.sample(at: 3))
        let reasons = [(1, "a/2_truncated.png", "read beyond end of data"), (2, "a/3_garbage.jpg", "neither PNG nor JPEG"),
                       (4, "b/5_truncated.jpg", "premature end of JPEG data"), (5, "b/6_corrupt.png", "IDAT")]
        for (index, name, reason) in reasons {
            assertDatasetError(try strict.sample(at: index), file: path(root, name)) {
                if case let .undecodableImage(message) = $0 { return message.contains(reason) }
                return false
            }
        }
        let lenient = try ImageFolder(root: root, geometry: .resize(height: 2, width: 2), skipBadImages: true)
        XCTAssertEqual(lenient.count, 2)
        XCTAssertEqual(lenient.files.map(\.path), [path(root, "a", "1_good.png"), path(root, "b", "4_good.jpg")])
        XCTAssertEqual(lenient.files.map(\.label), [0, 1])
        XCTAssertEqual(lenient.skippedFiles.map(\.file).sorted(),
                       ["a/2_truncated.png", "a/3_garbage.jpg", "b/5_truncated.jpg", "b/6_corrupt.png"].map { path(root, $0) })
    }
}
