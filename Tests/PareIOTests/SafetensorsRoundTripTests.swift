import Foundation
import PareCore
import PareIO
import XCTest

final class SafetensorsRoundTripTests: XCTestCase {
    func testEveryDTypeRoundTripsThroughBytes() throws {
        var tensors: [String: Tensor] = [:]
        for (index, dtype) in DType.allCases.enumerated() {
            tensors["\(dtype.rawValue).matrix"] = randomTensor([3, 5], dtype, seed: UInt64(index))
            tensors["\(dtype.rawValue).scalar"] = randomTensor([], dtype, seed: UInt64(100 + index))
            tensors["\(dtype.rawValue).empty"] = Tensor(zeros: [0, 3], dtype: dtype)
        }
        let original = SafetensorsFile(tensors: tensors, metadata: ["note": "every dtype", "ü/\"\n": "\u{1}é"])
        let decoded = try SafetensorsFile.decode(original.encoded())
        assertBitIdentical(decoded.tensors, tensors)
        XCTAssertEqual(decoded.metadata, original.metadata)
    }

    func testWriteAndReadFile() throws {
        let url = try temporaryDirectory(self).appendingPathComponent("weights.safetensors")
        let tensors = ["conv.weight": randomTensor([13, 3, 3, 3], .f32, seed: 1),
                       "bn.num_batches_tracked": randomTensor([], .i64, seed: 2),
                       "q": randomTensor([7], .bf16, seed: 3)]
        try SafetensorsFile(tensors: tensors, metadata: ["k": "v"]).write(to: url)
        let read = try SafetensorsFile.read(from: url)
        assertBitIdentical(read.tensors, tensors)
        XCTAssertEqual(read.metadata, ["k": "v"])
    }

    func testEncodingIsDeterministicAndAligned() throws {
        let tensors = ["b": randomTensor([3], .u8, seed: 1), "a": randomTensor([1], .f32, seed: 2),
                       "c": randomTensor([2], .i64, seed: 3), "d": randomTensor([3], .bf16, seed: 4)]
        let first = try SafetensorsFile(tensors: tensors, metadata: ["z": "1", "a": "2"]).encoded()
        let second = try SafetensorsFile(tensors: tensors, metadata: ["a": "2", "z": "1"]).encoded()
        XCTAssertEqual(first, second)
        let headerLength = Int(first.prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) })
        XCTAssertEqual(headerLength % 8, 0)
        let header = String(decoding: first[8..<(8 + headerLength)], as: UTF8.self)
        XCTAssertEqual(header, #"{"__metadata__":{"a":"2","z":"1"},"c":{"dtype":"I64","shape":[2],"data_offsets":[0,16]},"#
            + #""a":{"dtype":"F32","shape":[1],"data_offsets":[16,20]},"d":{"dtype":"BF16","shape":[3],"data_offsets":[20,26]},"#
            + #""b":{"dtype":"U8","shape":[3],"data_offsets":[26,29]}}"# + String(repeating: " ", count: 3))
    }

    func testOverwriteLeavesNoTemporaryFiles() throws {
        let directory = try temporaryDirectory(self)
        let url = directory.appendingPathComponent("model.safetensors")
        try SafetensorsFile(tensors: ["a": randomTensor([4], .f32, seed: 1)]).write(to: url)
        let replacement = ["b": randomTensor([2], .i32, seed: 2)]
        try SafetensorsFile(tensors: replacement).write(to: url)
        assertBitIdentical(try SafetensorsFile.read(from: url).tensors, replacement)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory.path), ["model.safetensors"])
    }

    func testWriteIntoMissingDirectoryFails() throws {
        let url = try temporaryDirectory(self).appendingPathComponent("no/such/dir/model.safetensors")
        XCTAssertThrowsError(try SafetensorsFile(tensors: [:]).write(to: url)) { error in
            guard let error = error as? SafetensorsError, case .writeFailed = error.problem else {
                return XCTFail("unexpected error \(error)")
            }
            XCTAssertEqual(error.file, url.path)
            XCTAssertTrue(error.description.hasPrefix(url.path), error.description)
        }
    }

    func testTensorNamedMetadataIsRejected() {
        let file = SafetensorsFile(tensors: ["__metadata__": Tensor(zeros: [1])])
        XCTAssertThrowsError(try file.encoded()) { error in
            XCTAssertEqual(error as? SafetensorsError, SafetensorsError(file: "<memory>", problem: .reservedTensorName))
        }
    }
}
