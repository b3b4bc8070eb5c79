import Foundation
import PareCore
import PareIO
import XCTest

/// A fresh directory under the system's temporary directory, removed when the test ends.
func temporaryDirectory(_ test: XCTestCase) throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("PareIOTests-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    test.addTeardownBlock { try? FileManager.default.removeItem(at: url) }
    return url
}

/// The bytes of a safetensors file with the given header text (unpadded) and data section.
func safetensorsBytes(header: String, data: [UInt8] = [], headerLength: UInt64? = nil) -> Data {
    let headerBytes = Array(header.utf8)
    var result = Data()
    withUnsafeBytes(of: (headerLength ?? UInt64(headerBytes.count)).littleEndian) { result.append(contentsOf: $0) }
    result.append(contentsOf: headerBytes)
    result.append(contentsOf: data)
    return result
}

/// A tensor of `dtype` filled with seeded random bytes.
func randomTensor(_ shape: Shape, _ dtype: DType, seed: UInt64) -> Tensor {
    var generator = SeededGenerator(seed: seed)
    let tensor = Tensor(zeros: shape, dtype: dtype)
    let bytes = tensor.storage.pointer.assumingMemoryBound(to: UInt8.self)
    for i in 0..<tensor.byteCount { bytes[i] = UInt8(truncatingIfNeeded: generator.next()) }
    return tensor
}

/// The tensor's bytes, for bit-exact comparison.
func bytes(_ tensor: Tensor) -> [UInt8] {
    Array(UnsafeRawBufferPointer(start: tensor.storage.pointer, count: tensor.byteCount))
}

/// Asserts that both maps hold the same names, and under each a tensor of the same shape,
/// dtype and bytes.
func assertBitIdentical(_ actual: [String: Tensor], _ expected: [String: Tensor],
                        file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(actual.keys.sorted(), expected.keys.sorted(), file: file, line: line)
    for (name, tensor) in expected {
        guard let other = actual[name] else { continue }
        XCTAssertEqual(other.shape, tensor.shape, name, file: file, line: line)
        XCTAssertEqual(other.dtype, tensor.dtype, name, file: file, line: line)
        XCTAssertEqual(bytes(other), bytes(tensor), name, file: file, line: line)
    }
}
