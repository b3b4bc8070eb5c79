import Foundation
import XCTest

/// Runs the built `pare` binary end to end.
final class CommandLineTests: XCTestCase {
    var binary: URL {
        // The test bundle sits beside the products in .build/<triple>/debug.
        let bundle = Bundle(for: CommandLineTests.self).bundleURL
        let products = bundle.pathExtension == "xctest" ? bundle.deletingLastPathComponent() : bundle
        return products.appendingPathComponent("pare")
    }

    func run(_ arguments: [String]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = binary
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    func testHelpListsCommands() throws {
        let (status, output) = try run(["--help"])
        XCTAssertEqual(status, 0)
        for command in ["demo", "bench-kernels", "export"] { XCTAssertTrue(output.contains(command), "help lacks \(command):\n\(output)") }
    }

    func testBadOptionIsAClearError() throws {
        let (status, output) = try run(["bench-kernels", "--threads", "0"])
        XCTAssertNotEqual(status, 0)
        XCTAssertTrue(output.contains("--threads"), output)
    }

    func testBenchKernelsPrintsEveryPass() throws {
        let (status, output) = try run(["bench-kernels", "--batch", "2", "--runs", "1", "--warmup", "0"])
        XCTAssertEqual(status, 0, output)
        for pass in ["forward", "backward-data", "backward-weights", "conv3x3", "depthwise3x3", "conv1x1", "page faults"] {
            XCTAssertTrue(output.contains(pass), "missing \(pass):\n\(output)")
        }
    }

    func testDemoTrainsAndSaves() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("pare-demo-\(UUID()).safetensors")
        defer { try? FileManager.default.removeItem(at: file) }
        let (status, output) = try run(["demo", "--steps", "3", "--batch", "8", "--save", file.path])
        XCTAssertEqual(status, 0, output)
        XCTAssertTrue(output.contains("step   3"), output)
        XCTAssertTrue(FileManager.default.fileExists(atPath: file.path), output)
    }

    func testExportWritesONNX() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("pare-export-\(UUID()).onnx")
        defer { try? FileManager.default.removeItem(at: file) }
        let (status, output) = try run(["export", "tiny-residual", "--onnx", file.path, "--dynamic-batch"])
        XCTAssertEqual(status, 0, output)
        XCTAssertTrue(output.contains("opset 17"), output)
        let size = try FileManager.default.attributesOfItem(atPath: file.path)[.size] as? Int ?? 0
        XCTAssertGreaterThan(size, 60_000, "tiny-residual's weights alone are 60 kB")
    }

    func testExportRejectsAnUnsupportedOpset() throws {
        let (status, output) = try run(["export", "tiny-residual", "--onnx", "/tmp/never-written.onnx", "--opset", "9"])
        XCTAssertNotEqual(status, 0)
        XCTAssertTrue(output.contains("opset 9 is not supported"), output)
        XCTAssertFalse(FileManager.default.fileExists(atPath: "/tmp/never-written.onnx"))
    }
}
