import Foundation
import PareCore
import PareData
import XCTest

final class MNISTReaderTests: XCTestCase {
    let classNames = (0..<10).map(String.init)

    /// Writes a 5-image 3x4 set in `directory` (gzipped or not) and returns its pixels and labels.
    @discardableResult
    func writeSet(_ directory: String, gzip: Bool, prefix: String = "train") throws -> (pixels: [UInt8], labels: [UInt8]) {
        let pixels = randomBytes(5 * 3 * 4, seed: 7)
        let labels: [UInt8] = [3, 0, 9, 1, 3]
        let images = idxBytes(magic: 0x0803, dimensions: [5, 3, 4], elements: pixels)
        let labelFile = idxBytes(magic: 0x0801, dimensions: [5], elements: labels)
        let suffix = gzip ? ".gz" : ""
        let writer = gzip ? writeGzip : write
        try writer(images, path(directory, "\(prefix)-images-idx3-ubyte\(suffix)"))
        try writer(labelFile, path(directory, "\(prefix)-labels-idx1-ubyte\(suffix)"))
        return (pixels, labels)
    }

    func testReadsGzippedAndRawFilesExactly() throws {
        for gzip in [true, false] {
            let directory = try temporaryDirectory(self)
            let (pixels, labels) = try writeSet(directory, gzip: gzip)
            let dataset = try MNIST.mnist(.train, directory: directory)
            XCTAssertEqual(dataset.count, 5)
            XCTAssertEqual(dataset.classes, 10)
            XCTAssertEqual(dataset.classNames, classNames)
            XCTAssertEqual(dataset.sampleShape, [1, 3, 4])
            for index in 0..<5 {
                let sample = dataset.sample(at: index)
                XCTAssertEqual(sample.image.shape, [1, 3, 4])
                XCTAssertEqual(byteValues(sample.image), Array(pixels[(index * 12)..<((index + 1) * 12)]), "gzip \(gzip)")
                XCTAssertEqual(sample.label, Int(labels[index]))
                XCTAssertEqual(dataset.label(at: index), Int(labels[index]))
            }
        }
    }

    func testTestSplitUsesT10kFiles() throws {
        let directory = try temporaryDirectory(self)
        try writeSet(directory, gzip: false, prefix: "t10k")
        XCTAssertEqual(try MNIST.mnist(.test, directory: directory).count, 5)
        assertDatasetError(try MNIST.mnist(.train, directory: directory), file: path(directory, "train-images-idx3-ubyte.gz")) {
            if case let .fileMissing(tried) = $0 { return tried.count == 3 }
            return false
        }
    }

    func testWrongMagicNamesTheFile() throws {
        let directory = try temporaryDirectory(self)
        try writeSet(directory, gzip: false)
        let images = path(directory, "train-images-idx3-ubyte")
        // A label file where the image file should be.
        try write(idxBytes(magic: 0x0801, dimensions: [5], elements: [0, 1, 2, 3, 4]), to: images)
        assertDatasetError(try MNIST.mnist(.train, directory: directory), file: images) {
            $0 == .wrongMagic(expected: 0x0803, found: 0x0801)
        }
    }

    func testTruncatedRawAndGzippedFiles() throws {
        let directory = try temporaryDirectory(self)
        let images = path(directory, "train-images-idx3-ubyte")
        try writeSet(directory, gzip: false)
        let full = try Data(contentsOf: URL(fileURLWithPath: images))
        try write(Array(full.prefix(full.count - 7)), to: images)
        assertDatasetError(try MNIST.mnist(.train, directory: directory), file: images) {
            $0 == .truncated(expectedBytes: 16 + 60, actualBytes: 16 + 53)
        }
        // Header cut short.
        try write(Array(full.prefix(10)), to: images)
        assertDatasetError(try MNIST.mnist(.train, directory: directory), file: images) {
            $0 == .truncated(expectedBytes: 16, actualBytes: 10)
        }
        // A gzip stream cut in the middle.
        let gzipDirectory = try temporaryDirectory(self)
        try writeSet(gzipDirectory, gzip: true)
        let gzipped = path(gzipDirectory, "train-images-idx3-ubyte.gz")
        let compressed = try Data(contentsOf: URL(fileURLWithPath: gzipped))
        try write(Array(compressed.prefix(compressed.count / 2)), to: gzipped)
        assertDatasetError(try MNIST.mnist(.train, directory: gzipDirectory), file: gzipped) {
            $0 == .corruptGzip(reason: "unexpected end of file")
        }
        // A damaged checksum.
        var damaged = Array(compressed)
        damaged[damaged.count - 6] ^= 0xFF
        try write(damaged, to: gzipped)
        assertDatasetError(try MNIST.mnist(.train, directory: gzipDirectory), file: gzipped) {
            $0 == .corruptGzip(reason: "incorrect data check")
        }
    }

    func testTrailingBytesAreAnError() throws {
        let directory = try temporaryDirectory(self)
        try writeSet(directory, gzip: false)
        let labels = path(directory, "train-labels-idx1-ubyte")
        try write(idxBytes(magic: 0x0801, dimensions: [5], elements: [3, 0, 9, 1, 3, 0]), to: labels)
        assertDatasetError(try MNIST.mnist(.train, directory: directory), file: labels) {
            $0 == .trailingBytes(expectedBytes: 13, actualBytes: 14)
        }
    }

    func testLabelCountMismatchNamesTheLabelFile() throws {
        let directory = try temporaryDirectory(self)
        try writeSet(directory, gzip: false)
        let labels = path(directory, "train-labels-idx1-ubyte")
        try write(idxBytes(magic: 0x0801, dimensions: [4], elements: [3, 0, 9, 1]), to: labels)
        assertDatasetError(try MNIST.mnist(.train, directory: directory), file: labels) {
            $0 == .countMismatch(labels: 4, images: 5, imagesFile: path(directory, "train-images-idx3-ubyte"))
        }
    }

    func testLabelOutOfRange() throws {
        let directory = try temporaryDirectory(self)
        try writeSet(directory, gzip: false)
        let labels = path(directory, "train-labels-idx1-ubyte")
        try write(idxBytes(magic: 0x0801, dimensions: [5], elements: [3, 0, 10, 1, 3]), to: labels)
        assertDatasetError(try MNIST.mnist(.train, directory: directory), file: labels) {
            $0 == .labelOutOfRange(index: 2, label: 10, classes: 10)
        }
    }

    func testDebianFashionMNISTTestSet() throws {
        let directory = MNIST.fashionMNISTDirectory
        guard FileManager.default.fileExists(atPath: path(directory, "t10k-images-idx3-ubyte.gz")) else {
            throw XCTSkip("Debian's dataset-fashion-mnist is not installed (no \(directory)); `make deps` installs it")
        }
        let dataset = try MNIST.fashionMNIST(.test)
        XCTAssertEqual(dataset.count, 10_000)
        XCTAssertEqual(dataset.sampleShape, [1, 28, 28])
        XCTAssertEqual(dataset.classNames?[9], "Ankle boot")
        XCTAssertEqual(Array(dataset.labels.prefix(10)), [9, 2, 1, 1, 6, 1, 4, 6, 5, 7])
        let first = byteValues(dataset.sample(at: 0).image)
        XCTAssertEqual(first.reduce(0) { $0 + Int($1) }, 33456)
        XCTAssertEqual(Array(first[(14 * 28)..<(14 * 28 + 8)]), [0, 0, 0, 0, 0, 0, 2, 4])
        XCTAssertEqual((0..<10).map { c in dataset.labels.filter { $0 == c }.count }, Array(repeating: 1000, count: 10))
    }
}
