import Foundation
import PareCore
import PareIO
import XCTest

/// Empty files, the first input every fuzz target met (issue 16): `fileContents` reads them
/// without Foundation (whose `Data(contentsOf:)` leaks 4 KiB per empty file, seen only under
/// LeakSanitizer in `make fuzz`), and each reader still refuses them naming the file.
final class EmptyFileTests: XCTestCase {
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
