import Foundation
import PareCore
import PareIO
import XCTest

/// Byte-exact agreement with the Python `safetensors` library (version 0.8.0). The expected
/// bytes were produced with:
///
///     import numpy as np
///     from safetensors.numpy import save
///     save({"a": np.zeros(2, dtype=np.float32)})                            # zeros
///     save({"w": np.array([[1.5, -2.0]], dtype=np.float32),                  # mixed
///           "n": np.array(7, dtype=np.int64),
///           "q": np.array([-1, 2, 3], dtype=np.int8)}, metadata={"format": "pt"})
///
/// and, for BF16 and I32 (numpy has no bfloat16), `safetensors.serialize` with
/// `TensorSpec(dtype=..., shape=[1], ...)` over zeroed buffers (`dtypeOrder` below).
final class SafetensorsReferenceTests: XCTestCase {
    static let zeros: [UInt8] = [
        0x38, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x7b, 0x22, 0x61, 0x22,
        0x3a, 0x7b, 0x22, 0x64, 0x74, 0x79, 0x70, 0x65, 0x22, 0x3a, 0x22, 0x46,
        0x33, 0x32, 0x22, 0x2c, 0x22, 0x73, 0x68, 0x61, 0x70, 0x65, 0x22, 0x3a,
        0x5b, 0x32, 0x5d, 0x2c, 0x22, 0x64, 0x61, 0x74, 0x61, 0x5f, 0x6f, 0x66,
        0x66, 0x73, 0x65, 0x74, 0x73, 0x22, 0x3a, 0x5b, 0x30, 0x2c, 0x38, 0x5d,
        0x7d, 0x7d, 0x20, 0x20, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    ]

    func testZerosMatchesPythonByteForByte() throws {
        let encoded = try SafetensorsFile(tensors: ["a": Tensor(zeros: [2])]).encoded()
        XCTAssertEqual(Array(encoded), Self.zeros)

        let decoded = try SafetensorsFile.decode(Data(Self.zeros))
        XCTAssertEqual(decoded.tensors["a"]?.shape, [2])
        XCTAssertEqual(decoded.tensors["a"]?.scalars, [0, 0])
        XCTAssertEqual(decoded.metadata, [:])
    }

    func testMixedDTypesAndMetadataMatchPython() throws {
        let header = #"{"__metadata__":{"format":"pt"},"n":{"dtype":"I64","shape":[],"data_offsets":[0,8]},"#
            + #""w":{"dtype":"F32","shape":[1,2],"data_offsets":[8,16]},"q":{"dtype":"I8","shape":[3],"data_offsets":[16,19]}}"#
            + String(repeating: " ", count: 6)
        let data: [UInt8] = [0x07, 0, 0, 0, 0, 0, 0, 0,  0, 0, 0xc0, 0x3f, 0, 0, 0, 0xc0,  0xff, 0x02, 0x03]
        let python = safetensorsBytes(header: header, data: data)

        let decoded = try SafetensorsFile.decode(python)
        XCTAssertEqual(decoded.metadata, ["format": "pt"])
        XCTAssertEqual(decoded.tensors["w"]?.shape, [1, 2])
        XCTAssertEqual(decoded.tensors["w"]?.scalars, [1.5, -2.0])
        XCTAssertEqual(decoded.tensors["n"]?.shape, [])
        XCTAssertEqual(decoded.tensors["n"].map(bytes), [7, 0, 0, 0, 0, 0, 0, 0])
        XCTAssertEqual(decoded.tensors["q"].map(bytes), [0xff, 2, 3])
        XCTAssertEqual(try decoded.encoded(), python)
    }

    func testDTypeOrderMatchesPython() throws {
        // serialize({name: TensorSpec(dtype, shape=[1]) ...}) with the names and dtypes below.
        let header = #"{"l":{"dtype":"I64","shape":[1],"data_offsets":[0,8]},"a_f":{"dtype":"F32","shape":[1],"data_offsets":[8,12]},"#
            + #""f":{"dtype":"F32","shape":[1],"data_offsets":[12,16]},"i32":{"dtype":"I32","shape":[1],"data_offsets":[16,20]},"#
            + #""b2":{"dtype":"BF16","shape":[1],"data_offsets":[20,22]},"bf":{"dtype":"BF16","shape":[1],"data_offsets":[22,24]},"#
            + #""i8":{"dtype":"I8","shape":[1],"data_offsets":[24,25]},"u":{"dtype":"U8","shape":[1],"data_offsets":[25,26]}}"#
            + String(repeating: " ", count: 3)
        let python = safetensorsBytes(header: header, data: [UInt8](repeating: 0, count: 26))
        let tensors: [String: Tensor] = [
            "u": Tensor(zeros: [1], dtype: .u8), "i8": Tensor(zeros: [1], dtype: .i8),
            "bf": Tensor(zeros: [1], dtype: .bf16), "i32": Tensor(zeros: [1], dtype: .i32),
            "f": Tensor(zeros: [1], dtype: .f32), "l": Tensor(zeros: [1], dtype: .i64),
            "b2": Tensor(zeros: [1], dtype: .bf16), "a_f": Tensor(zeros: [1], dtype: .f32),
        ]
        XCTAssertEqual(try SafetensorsFile(tensors: tensors).encoded(), python)
    }

    func testMetadataEscapingMatchesPython() throws {
        // serialize({"a": TensorSpec("uint8", [1])}, {"q": "é\"\\/\n\x01\x7f\t"})
        let header = #"{"__metadata__":{"q":"é\"\\/\n\u0001"# + "\u{7f}" + #"\t"},"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}"#
            + " "
        let python = safetensorsBytes(header: header, data: [0])
        let file = SafetensorsFile(tensors: ["a": Tensor(zeros: [1], dtype: .u8)],
                                   metadata: ["q": "é\"\\/\n\u{1}\u{7f}\t"])
        XCTAssertEqual(try file.encoded(), python)
        XCTAssertEqual(try SafetensorsFile.decode(python).metadata, file.metadata)
    }

    func testEmptyFileMatchesPython() throws {
        // serialize({}, None)
        let python = safetensorsBytes(header: "{}      ")
        XCTAssertEqual(try SafetensorsFile().encoded(), python)
        let decoded = try SafetensorsFile.decode(python)
        XCTAssertTrue(decoded.tensors.isEmpty)
        XCTAssertTrue(decoded.metadata.isEmpty)
    }
}
