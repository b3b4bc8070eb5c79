import Foundation
import PareCore
import PareIO
import XCTest

/// Every kind of bad file gives a ``SafetensorsError`` naming the file and the problem.
final class SafetensorsCorruptionTests: XCTestCase {
    let source = "bad.safetensors"

    func assertProblem(_ data: Data, _ expected: SafetensorsError.Problem,
                       file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try SafetensorsFile.decode(data, source: source), file: file, line: line) { error in
            guard let error = error as? SafetensorsError else {
                return XCTFail("not a SafetensorsError: \(error)", file: file, line: line)
            }
            XCTAssertEqual(error.problem, expected, file: file, line: line)
            XCTAssertTrue(error.description.hasPrefix(source + ": "), error.description, file: file, line: line)
        }
    }

    /// A one-tensor file (`header` and `data` are the parts of `safetensorsBytes`).
    func tensorFile(dtype: String = "F32", shape: String = "[2]", offsets: String = "[0,8]", byteCount: Int = 8) -> Data {
        safetensorsBytes(header: #"{"a":{"dtype":"\#(dtype)","shape":\#(shape),"data_offsets":\#(offsets)}}"#,
                         data: [UInt8](repeating: 1, count: byteCount))
    }

    func testValidHelperFileDecodes() throws {
        XCTAssertEqual(try SafetensorsFile.decode(tensorFile()).tensors["a"]?.shape, [2])
    }

    func testMissingFile() throws {
        let url = try temporaryDirectory(self).appendingPathComponent("absent.safetensors")
        XCTAssertThrowsError(try SafetensorsFile.read(from: url)) { error in
            XCTAssertEqual(error as? SafetensorsError, SafetensorsError(file: url.path, problem: .fileMissing))
            XCTAssertTrue("\(error)".contains("absent.safetensors"))
        }
    }

    func testDirectoryIsUnreadable() throws {
        let url = try temporaryDirectory(self)
        XCTAssertThrowsError(try SafetensorsFile.read(from: url)) { error in
            XCTAssertEqual(error as? SafetensorsError, SafetensorsError(file: url.path, problem: .unreadable(reason: "is a directory")))
        }
    }

    func testTruncatedAtEveryLength() throws {
        let full = try SafetensorsFile(tensors: ["a": randomTensor([2], .f32, seed: 1)], metadata: ["k": "v"]).encoded()
        let headerLength = Int(full.prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) })
        for length in 0..<full.count {
            let truncated = full.prefix(length)
            if length < 8 {
                assertProblem(truncated, .tooShort(byteCount: length))
            } else if length < 8 + headerLength {
                assertProblem(truncated, .headerExceedsFile(length: UInt64(headerLength), available: length - 8))
            } else {
                let dataSize = length - 8 - headerLength
                assertProblem(truncated, .offsetsOutOfBounds(tensor: "a", begin: 0, end: 8, dataSize: dataSize))
            }
        }
        XCTAssertNoThrow(try SafetensorsFile.decode(full))
    }

    func testTruncatedFileOnDiskNamesIt() throws {
        let url = try temporaryDirectory(self).appendingPathComponent("short.safetensors")
        try Data([1, 2, 3]).write(to: url)
        XCTAssertThrowsError(try SafetensorsFile.read(from: url)) { error in
            XCTAssertEqual(error as? SafetensorsError, SafetensorsError(file: url.path, problem: .tooShort(byteCount: 3)))
            XCTAssertEqual("\(error)", "\(url.path): file is 3 bytes, too short for the 8-byte header length")
        }
    }

    func testHeaderTooLarge() {
        let limit = SafetensorsFile.maxHeaderLength
        assertProblem(safetensorsBytes(header: "{}", headerLength: UInt64(limit) + 1),
                      .headerTooLarge(length: UInt64(limit) + 1, limit: limit))
        assertProblem(safetensorsBytes(header: "{}", headerLength: .max), .headerTooLarge(length: .max, limit: limit))
    }

    func testHeaderLongerThanFile() {
        assertProblem(safetensorsBytes(header: "{}", headerLength: 1000), .headerExceedsFile(length: 1000, available: 2))
    }

    func testHeaderNotUTF8() {
        var data = safetensorsBytes(header: "{}      ")
        data[9] = 0xff
        assertProblem(data, .headerNotUTF8)
    }

    func testHeaderNotJSON() throws {
        for header in [#"{"a": "#, "not json", #"{'a': {}}"#, #"{"a":{"dtype":"F32"}"#] {
            XCTAssertThrowsError(try SafetensorsFile.decode(safetensorsBytes(header: header), source: source)) { error in
                guard case .headerNotJSON = (error as? SafetensorsError)?.problem else {
                    return XCTFail("\(header): unexpected \(error)")
                }
            }
        }
    }

    func testHeaderNotAnObject() {
        assertProblem(safetensorsBytes(header: "[1, 2]  "), .headerNotObject)
        assertProblem(safetensorsBytes(header: #""text""#), .headerNotObject)
    }

    func testEntryNotAnObject() {
        assertProblem(safetensorsBytes(header: #"{"a": 5}"#), .entryNotObject(tensor: "a"))
    }

    func testMissingFields() {
        assertProblem(safetensorsBytes(header: #"{"a":{"shape":[1],"data_offsets":[0,1]}}"#),
                      .missingField(tensor: "a", field: "dtype"))
        assertProblem(safetensorsBytes(header: #"{"a":{"dtype":"U8","data_offsets":[0,1]}}"#),
                      .missingField(tensor: "a", field: "shape"))
        assertProblem(safetensorsBytes(header: #"{"a":{"dtype":"U8","shape":[1]}}"#),
                      .missingField(tensor: "a", field: "data_offsets"))
    }

    func testWrongFieldTypes() {
        let offsets = "two non-negative integers [begin, end]"
        assertProblem(safetensorsBytes(header: #"{"a":{"dtype":5,"shape":[2],"data_offsets":[0,8]}}"#, data: [UInt8](repeating: 0, count: 8)),
                      .wrongFieldType(tensor: "a", field: "dtype", expected: "a string"))
        assertProblem(tensorFile(shape: #""2""#), .wrongFieldType(tensor: "a", field: "shape", expected: "an array of integers"))
        assertProblem(tensorFile(shape: "[1.5]"), .wrongFieldType(tensor: "a", field: "shape", expected: "an array of integers"))
        assertProblem(tensorFile(shape: "null"), .wrongFieldType(tensor: "a", field: "shape", expected: "an array of integers"))
        assertProblem(tensorFile(offsets: "[0]"), .wrongFieldType(tensor: "a", field: "data_offsets", expected: offsets))
        assertProblem(tensorFile(offsets: "[0,8,16]"), .wrongFieldType(tensor: "a", field: "data_offsets", expected: offsets))
        assertProblem(tensorFile(offsets: "[-8,0]"), .wrongFieldType(tensor: "a", field: "data_offsets", expected: offsets))
        assertProblem(tensorFile(offsets: #"[0,"8"]"#), .wrongFieldType(tensor: "a", field: "data_offsets", expected: offsets))
        assertProblem(tensorFile(offsets: "[0,18446744073709551615]"),
                      .wrongFieldType(tensor: "a", field: "data_offsets", expected: offsets))
    }

    func testUnknownDType() {
        assertProblem(tensorFile(dtype: "F8_E4M3", shape: "[4]"), .unknownDType(tensor: "a", dtype: "F8_E4M3"))
    }

    func testNegativeDimension() {
        assertProblem(tensorFile(shape: "[-1,2]"), .negativeDimension(tensor: "a", shape: [-1, 2]))
    }

    func testElementCountOverflow() {
        assertProblem(tensorFile(shape: "[4294967296,4294967296]"),
                      .elementCountOverflow(tensor: "a", shape: [4_294_967_296, 4_294_967_296]))
        // Fits in Int as an element count, not as a byte count.
        assertProblem(tensorFile(shape: "[4611686018427387904]"),
                      .elementCountOverflow(tensor: "a", shape: [4_611_686_018_427_387_904]))
    }

    func testShapeInconsistentWithOffsets() {
        assertProblem(tensorFile(shape: "[3]"),
                      .sizeMismatch(tensor: "a", dtype: .f32, shape: [3], expectedBytes: 12, offsetBytes: 8))
        assertProblem(tensorFile(dtype: "I64"),
                      .sizeMismatch(tensor: "a", dtype: .i64, shape: [2], expectedBytes: 16, offsetBytes: 8))
    }

    func testOffsetsOutsideData() {
        assertProblem(tensorFile(offsets: "[0,16]"), .offsetsOutOfBounds(tensor: "a", begin: 0, end: 16, dataSize: 8))
        assertProblem(tensorFile(offsets: "[8,0]"), .offsetsOutOfBounds(tensor: "a", begin: 8, end: 0, dataSize: 8))
    }

    func testOverlappingOffsets() {
        let header = #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#
        assertProblem(safetensorsBytes(header: header, data: [UInt8](repeating: 0, count: 12)),
                      .offsetsNotContiguous(tensor: "b", begin: 4, expectedBegin: 8))
    }

    func testHoleBetweenTensors() {
        assertProblem(tensorFile(dtype: "U8", shape: "[1]", offsets: "[1,2]", byteCount: 2),
                      .offsetsNotContiguous(tensor: "a", begin: 1, expectedBegin: 0))
        let header = #"{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"b":{"dtype":"U8","shape":[1],"data_offsets":[2,3]}}"#
        assertProblem(safetensorsBytes(header: header, data: [0, 0, 0]),
                      .offsetsNotContiguous(tensor: "b", begin: 2, expectedBegin: 1))
    }

    func testTrailingData() {
        assertProblem(tensorFile(byteCount: 9), .trailingData(covered: 8, dataSize: 9))
        assertProblem(safetensorsBytes(header: "{}", data: [0]), .trailingData(covered: 0, dataSize: 1))
    }

    func testMetadataMustBeAnObjectOfStrings() {
        assertProblem(safetensorsBytes(header: #"{"__metadata__":{"k":"v","n":1}}"#), .metadataValueNotString(key: "n"))
        assertProblem(safetensorsBytes(header: #"{"__metadata__":{"k":null}}"#), .metadataValueNotString(key: "k"))
        assertProblem(safetensorsBytes(header: #"{"__metadata__":["k"]}"#), .metadataNotObject)
    }

    /// What the Python library accepts, this reader accepts too.
    func testLenientWherePythonIsLenient() throws {
        let header = #"{"b":{"dtype":"U8","shape":[1],"data_offsets":[0,1],"extra":true},"#
            + #""a":{"dtype":"U8","shape":[1],"data_offsets":[1,2]},"__metadata__":null}"#
        let decoded = try SafetensorsFile.decode(safetensorsBytes(header: header, data: [7, 9]))
        XCTAssertEqual(decoded.tensors["a"].map(bytes), [9])
        XCTAssertEqual(decoded.tensors["b"].map(bytes), [7])
        XCTAssertEqual(decoded.metadata, [:])
    }
}
