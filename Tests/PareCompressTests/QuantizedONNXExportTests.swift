import Foundation
@testable import PareCompress
import PareCore
import PareIO
import XCTest

/// An int8 model exported as QDQ ONNX runs in onnxruntime with the same scales and gives
/// Pare's int8 outputs: onnxruntime fuses the QDQ pairs into its own int8 kernels, and they
/// agree with Pare's to the script's 1e-4 of the largest logit (measured: 6e-8 relative; a
/// layer whose weights saturated onnxruntime's AVX2 kernels showed 4%).
final class QuantizedONNXExportTests: XCTestCase {
    private var repositoryRoot: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    func testQDQExportMatchesONNXRuntime() throws {
        let configured = ProcessInfo.processInfo.environment["PARE_PYTHON"] ?? ""
        let python = configured.isEmpty ? "python3" : configured
        let probe = try runProcess(python, ["-c", "import onnxruntime, onnx, numpy"])
        guard probe.status == 0 else {
            throw XCTSkip("QDQ export check skipped: \(python) cannot import onnxruntime, onnx and numpy; "
                          + "`make test` sets one up (`make onnx-venv`), or set PARE_PYTHON")
        }
        let graph = try randomized(QuantizationTests.residualNetwork(), seed: 21)
        let calibration = QuantizationTests.batches(4, batch: 4, shape: [3, 8, 8], seed: 22)
        let (quantized, _) = try PostTrainingQuantizer().quantize(graph, calibration: calibration)

        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("pare-qdq-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        try ONNXExport.write(quantized, to: directory.appendingPathComponent("int8.onnx"))
        let proto = try Data(contentsOf: directory.appendingPathComponent("int8.onnx"))
        XCTAssertTrue(String(decoding: proto, as: UTF8.self).contains("QuantizeLinear"))
        for batch in [1, 3] {
            let input = QuantizationTests.batches(1, batch: batch, shape: [3, 8, 8], seed: UInt64(30 + batch))[0]
            let output = try DNNLExecutor(graph: quantized, batchSize: batch, mode: .inference).forward([input])[0].copy()
            try SafetensorsFile(tensors: ["input": input])
                .write(to: directory.appendingPathComponent("int8.batch\(batch).input.safetensors"))
            try SafetensorsFile(tensors: ["output": output])
                .write(to: directory.appendingPathComponent("int8.batch\(batch).expected.safetensors"))
        }
        let script = repositoryRoot.appendingPathComponent("scripts/check-onnx-export.py")
        let check = try runProcess(python, [script.path, directory.path])
        print(check.output)
        XCTAssertEqual(check.status, 0, check.output)
    }

    private func runProcess(_ executable: String, _ arguments: [String]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [executable] + arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }
}
