import Foundation
import PareCore
import PareIO
import XCTest

/// Empty files, the first input every fuzz target met (issue 16): `fileContents` reads them
/// without Foundation (whose `Data(contentsOf:)` leaks 4 KiB per empty file, found under
/// LeakSanitizer in `make fuzz`; measured here by resident memory), and each reader still
/// refuses them naming the file.
final class EmptyFileTests: XCTestCase {
    /// Reads an empty file 20,000 times: resident memory grows by far less than the 80 MB
    /// that a leaked 4 KiB buffer per read adds (what `Data(contentsOf:)` does; the same
    /// measurement sees 20,000 such buffers allocated on purpose). glibc's `malloc_trim` first
    /// hands the free heap pages that earlier tests left back to the system; else a leak could
    /// reuse them unseen. Linux: /proc/self/statm.
    func testReadingEmptyFilesDoesNotGrowMemory() throws {
        guard FileManager.default.fileExists(atPath: "/proc/self/statm"), let trimSymbol = dlsym(nil, "malloc_trim") else {
            throw XCTSkip("needs /proc/self/statm and glibc's malloc_trim")
        }
        let trim = unsafeBitCast(trimSymbol, to: (@convention(c) (Int) -> Int32).self)
        func residentBytes() throws -> Int {
            let fields = try String(contentsOfFile: "/proc/self/statm", encoding: .utf8).split(separator: " ")
            return try XCTUnwrap(Int(fields[1])) * Int(sysconf(Int32(_SC_PAGESIZE)))
        }
        let empty = try temporaryDirectory(self).appendingPathComponent("empty")
        try Data().write(to: empty)
        let reads = 20_000
        for mapped in [false, true] { _ = try fileContents(empty, mapped: mapped) }
        _ = trim(0)
        var before = try residentBytes()
        for i in 0..<reads { XCTAssertTrue(try fileContents(empty, mapped: i % 2 == 1).isEmpty) }
        let growth = try residentBytes() - before
        XCTAssertLessThan(growth, 8 << 20, "\(reads) reads of an empty file grew resident memory by \(growth) bytes")

        // The measurement sees a leak of that size: 20,000 blocks of 4 KiB, held, then freed.
        _ = trim(0)
        before = try residentBytes()
        let blocks = (0..<reads).map { _ in malloc(4096) }
        let held = try residentBytes() - before
        blocks.forEach { free($0) }
        XCTAssertGreaterThan(held, 40 << 20, "20,000 allocations of 4 KiB grew resident memory by only \(held) bytes")
    }

    func testFileContentsOfEmptyAndNonEmptyFiles() throws {
        let directory = try temporaryDirectory(self)
        let empty = directory.appendingPathComponent("empty"), full = directory.appendingPathComponent("full")
        try Data().write(to: empty)
        try Data([1, 2, 3]).write(to: full)
        for mapped in [false, true] {
            XCTAssertEqual(try fileContents(empty, mapped: mapped), Data())
            XCTAssertEqual(try fileContents(full, mapped: mapped), Data([1, 2, 3]))
            XCTAssertThrowsError(try fileContents(directory.appendingPathComponent("absent"), mapped: mapped))
            XCTAssertThrowsError(try fileContents(directory, mapped: mapped), "a directory is not read as empty")
        }
    }

    func testEmptyModelFilesAreRefusedNamingTheFile() throws {
        let directory = try temporaryDirectory(self)
        let safetensors = directory.appendingPathComponent("empty.safetensors")
        try Data().write(to: safetensors)
        XCTAssertThrowsError(try SafetensorsFile.read(from: safetensors)) { error in
            XCTAssertEqual(error as? SafetensorsError, SafetensorsError(file: safetensors.path, problem: .tooShort(byteCount: 0)))
        }
        XCTAssertThrowsError(try ModelFile.load(from: safetensors)) { error in
            XCTAssertTrue("\(error)".hasPrefix(safetensors.path + ": "), "\(error)")
        }
        let onnx = directory.appendingPathComponent("empty.onnx")
        try Data().write(to: onnx)
        XCTAssertThrowsError(try ONNXImport.read(from: onnx)) { error in
            XCTAssertTrue("\(error)".contains(onnx.path), "\(error)")
        }
    }
}
