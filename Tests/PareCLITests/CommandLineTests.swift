import Foundation
import XCTest

/// Runs the built `pare` binary end to end.
final class CommandLineTests: XCTestCase {
    func run(_ arguments: [String]) throws -> (status: Int32, output: String) { try runPare(arguments) }

    func testHelpListsCommands() throws {
        let (status, output) = try run(["--help"])
        XCTAssertEqual(status, 0)
        for command in ["demo", "bench-kernels", "zoo", "summary", "export", "import", "run"] { XCTAssertTrue(output.contains(command), "help lacks \(command):\n\(output)") }
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

    /// --conv times the shapes given, through Winograd too where training would use it, and
    /// rejects a malformed shape by name.
    func testBenchKernelsTimesGivenConvolutions() throws {
        let (status, output) = try run(["bench-kernels", "--batch", "2", "--runs", "1", "--warmup", "0",
                                        "--conv", "8,16,9,3,1", "--conv", "1,8,12,5,0,2"])
        XCTAssertEqual(status, 0, output)
        for line in ["8->16 9x9 k3p1 ", "8->16 9x9 k3p1 wino", "1->8 12x12 k5p0s2 "] {
            XCTAssertTrue(output.contains(line), "missing \(line):\n\(output)")
        }
        XCTAssertFalse(output.contains("1->8 12x12 k5p0s2 wino"), output)
        XCTAssertFalse(output.contains("page faults"), "the standard training step runs only without --conv:\n\(output)")
        let (badStatus, badOutput) = try run(["bench-kernels", "--conv", "8,16"])
        XCTAssertNotEqual(badStatus, 0)
        XCTAssertTrue(badOutput.contains("--conv"), badOutput)
    }

    func testDemoTrainsAndSaves() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("pare-demo-\(UUID()).safetensors")
        defer { try? FileManager.default.removeItem(at: file) }
        let (status, output) = try run(["demo", "--synthetic", "--steps", "3", "--batch", "8", "--save", file.path])
        XCTAssertEqual(status, 0, output)
        XCTAssertTrue(output.contains("step   3"), output)
        XCTAssertTrue(FileManager.default.fileExists(atPath: file.path), output)
    }

    func testSummaryOfSmallCNN() throws {
        let (status, output) = try run(["summary", "smallcnn"])
        XCTAssertEqual(status, 0, output)
        for line in ["conv1 (conv2d)", "[-1, 32, 26, 26]", "Total params: 225,034", "Params size (MB): 0.86",
                     "Estimated Total Size (MB): 1.37", "MACs (conv+linear): 2,631,040",
                     "FLOPs (2 x MACs of conv+linear): 5,262,080", "thop total: 2,631,040", "Native file (.safetensors)"] {
            XCTAssertTrue(output.contains(line), "missing \(line):\n\(output)")
        }
    }

    func testSummaryJSON() throws {
        let (status, output) = try run(["summary", "smallcnn", "--json", "--batch", "2"])
        XCTAssertEqual(status, 0, output)
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any], output)
        XCTAssertEqual(object["totalParameters"] as? Int, 225_034)
        XCTAssertEqual(object["batch"] as? Int, 2)
        XCTAssertEqual((object["operations"] as? [String: Int])?["macs"], 2 * 2_631_040)
        XCTAssertEqual((object["layers"] as? [Any])?.count, 10)
    }

    func testSummaryRejectsMalformedInput() throws {
        for input in ["3x224", "abc", "0x2x2", "3x224x224x1"] {
            let (status, output) = try run(["summary", "smallcnn", "--input", input])
            XCTAssertNotEqual(status, 0, output)
            XCTAssertTrue(output.contains("expected CxHxW"), "\(input):\n\(output)")
        }
    }

    func testSummaryOfUnknownModelListsTheZoo() throws {
        let (status, output) = try run(["summary", "no-such-net"])
        XCTAssertNotEqual(status, 0, output)
        XCTAssertTrue(output.contains("unknown model 'no-such-net'") && output.contains("smallcnn"), output)
    }

    func testSummaryOfMissingFileNamesIt() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("pare-missing-\(UUID()).safetensors").path
        let (status, output) = try run(["summary", path])
        XCTAssertNotEqual(status, 0, output)
        XCTAssertTrue(output.contains(path) && output.contains("no such file"), output)
    }

    /// A saved model summarises from its file, and the native size printed is the file's.
    func testSummaryOfSavedFile() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("pare-summary-\(UUID()).safetensors")
        defer { try? FileManager.default.removeItem(at: file) }
        let saved = try run(["demo", "--synthetic", "--steps", "1", "--batch", "2", "--save", file.path])
        XCTAssertEqual(saved.status, 0, saved.output)
        let (status, output) = try run(["summary", file.path, "--json"])
        XCTAssertEqual(status, 0, output)
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any], output)
        let bytes = try FileManager.default.attributesOfItem(atPath: file.path)[.size] as? Int
        XCTAssertEqual(object["nativeFileBytes"] as? Int, bytes)
        XCTAssertEqual(object["totalParameters"] as? Int, 16_186)
    }

    func testZooListsModels() throws {
        let (status, output) = try run(["zoo"])
        XCTAssertEqual(status, 0, output)
        for text in ["smallcnn", "1x28x28", "225,034", "2,631,040"] {
            XCTAssertTrue(output.contains(text), "missing \(text):\n\(output)")
        }
        let json = try run(["zoo", "--json"])
        XCTAssertEqual(json.status, 0, json.output)
        let rows = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(json.output.utf8)) as? [[String: Any]], json.output)
        let smallCNN = try XCTUnwrap(rows.first { $0["name"] as? String == "smallcnn" })
        XCTAssertEqual(smallCNN["parameters"] as? Int, 225_034)
        XCTAssertEqual(smallCNN["macs"] as? Int, 2_631_040)
        XCTAssertEqual(smallCNN["input"] as? [Int], [1, 28, 28])
    }

    func testExportWritesONNX() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("pare-export-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("tiny.onnx")
        let (status, output) = try run(["export", "tiny-residual", "--onnx", file.path])
        XCTAssertEqual(status, 0, output)
        XCTAssertTrue(output.contains("opset 17, dynamic batch"), output)
        let size = try FileManager.default.attributesOfItem(atPath: file.path)[.size] as? Int ?? 0
        XCTAssertGreaterThan(size, 60_000, "tiny-residual's weights alone are 60 kB")
        // `pare import` reads the symbolic batch dimension back.
        let imported = try run(["import", file.path, "--out", directory.appendingPathComponent("tiny.safetensors").path])
        XCTAssertEqual(imported.status, 0, imported.output)

        let fixed = try run(["export", "tiny-residual", "--onnx", directory.appendingPathComponent("fixed.onnx").path,
                             "--static-batch", "4"])
        XCTAssertEqual(fixed.status, 0, fixed.output)
        XCTAssertTrue(fixed.output.contains("opset 17, batch 4"), fixed.output)
        let zero = try run(["export", "tiny-residual", "--onnx", directory.appendingPathComponent("zero.onnx").path,
                            "--static-batch", "0"])
        XCTAssertNotEqual(zero.status, 0)
        XCTAssertTrue(zero.output.contains("--static-batch must be positive"), zero.output)
    }

    func testExportRejectsAnUnsupportedOpset() throws {
        let (status, output) = try run(["export", "tiny-residual", "--onnx", "/tmp/never-written.onnx", "--opset", "9"])
        XCTAssertNotEqual(status, 0)
        XCTAssertTrue(output.contains("opset 9 is not supported"), output)
        XCTAssertFalse(FileManager.default.fileExists(atPath: "/tmp/never-written.onnx"))
    }
}
