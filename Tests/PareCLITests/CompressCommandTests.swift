import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import PareCore
import PareIO
import XCTest

/// `pare compress`, `pare sensitivity` and `pare report` end to end, `pare train`'s curves,
/// and the errors for bad input.
final class CompressCommandTests: XCTestCase {
    var scratch: URL!

    override func setUpWithError() throws {
        scratch = FileManager.default.temporaryDirectory.appendingPathComponent("pare-compress-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
    }

    override func tearDown() {
        try? FileManager.default.removeItem(at: scratch)
    }

    private func path(_ name: String) -> String { scratch.appendingPathComponent(name).path }
    private func exists(_ name: String) -> Bool { FileManager.default.fileExists(atPath: path(name)) }

    private let quick = ["--teacher-epochs", "1", "--prune-steps", "1", "--finetune-epochs", "1", "--sensitivity-samples", "32",
                         "--ratios", "0.5", "--calibration-batches", "2", "--bench-runs", "2", "--batch", "32", "--threads", "1",
                         "--round-to", "4"]

    func testCompressToAParameterTargetThenReportAndEvaluate() throws {
        let data = try writeQuadrantMNIST(in: scratch.appendingPathComponent("data"), train: 256, test: 64)
        // smallcnn has 225,034 parameters at 28x28; a third of them is the target.
        var (status, output) = try runPare(["compress", "smallcnn", "--data", data, "--train-teacher", "--target", "params=75k",
                                            "--max-drop", "30", "--out", path("c"), "--json"] + quick)
        XCTAssertEqual(status, 0, output)
        let report = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any], output)
        XCTAssertEqual(report["targetMet"] as? Bool, true, output)
        let steps = try XCTUnwrap(report["steps"] as? [[String: Any]])
        XCTAssertEqual(steps.map { $0["name"] as? String }, ["start (teacher)", "prune 1/1", "int8 (minmax)"])
        let last = try XCTUnwrap((steps.last?["figures"] as? [String: Any])?["parameters"] as? Int)
        XCTAssertLessThanOrEqual(last, 75000)
        for file in ["c/final.safetensors", "c/final.onnx", "c/report.html", "c/report.json", "c/sensitivity.svg"] {
            XCTAssertTrue(exists(file), file)
        }

        // The final model evaluates; the report redraws; a finished run resumes to nothing new.
        (status, output) = try runPare(["eval", path("c/final.safetensors"), "--data", data, "--json"])
        XCTAssertEqual(status, 0, output)
        try FileManager.default.removeItem(atPath: path("c/report.html"))
        (status, output) = try runPare(["report", path("c")])
        XCTAssertEqual(status, 0, output)
        XCTAssertTrue(output.contains("prune 1/1") && output.contains("int8 (minmax)"), output)
        XCTAssertTrue(XMLParser(contentsOf: scratch.appendingPathComponent("c/report.html"))!.parse())
        (status, output) = try runPare(["compress", "--resume", path("c")])
        XCTAssertEqual(status, 0, output)
        XCTAssertTrue(output.contains("resuming") && output.contains("target met"), output)
        XCTAssertFalse(output.contains("== prune"), output)

        // An unreachable target stops with the closest the profile allows, keeping the start.
        (status, output) = try runPare(["compress", path("c/start.safetensors"), "--data", data, "--target", "params=100",
                                        "--out", path("u")] + Array(quick.dropFirst(2)))
        XCTAssertNotEqual(status, 0, output)
        XCTAssertTrue(output.contains("at most 100 parameters cannot be met"), output)
        XCTAssertTrue(exists("u/start.safetensors") && exists("u/report.html"))
    }

    /// Killed (SIGKILL) while fine-tuning a pruning step, then resumed: the final model is
    /// the uninterrupted run's, byte for byte, and so are the step table's accuracies.
    func testKilledAndResumedCompressionEndsWithTheUninterruptedModel() throws {
        let data = try writeQuadrantMNIST(in: scratch.appendingPathComponent("data"), train: 512, test: 64)
        let common = ["compress", "smallcnn", "--data", data, "--train-teacher", "--teacher-epochs", "1", "--target", "params=75k",
                      "--max-drop", "30", "--prune-steps", "2", "--finetune-epochs", "2", "--sensitivity-samples", "32",
                      "--ratios", "0.5", "--calibration-batches", "2", "--bench-runs", "2", "--batch", "32", "--threads", "1",
                      "--round-to", "4", "--seed", "3"]
        var (status, output) = try runPare(common + ["--out", path("whole")])
        XCTAssertEqual(status, 0, output)

        let victim = Process()
        victim.executableURL = pareBinary
        victim.arguments = common + ["--out", path("split")]
        victim.standardOutput = FileHandle.nullDevice
        victim.standardError = FileHandle.nullDevice
        try victim.run()
        let checkpoint = path("split/prune/step-1/last.safetensors")
        let deadline = Date().addingTimeInterval(300)
        while !FileManager.default.fileExists(atPath: checkpoint) && victim.isRunning && Date() < deadline { usleep(2000) }
        kill(victim.processIdentifier, SIGKILL)
        victim.waitUntilExit()
        XCTAssertEqual(victim.terminationReason, .uncaughtSignal, "the run finished before it could be killed")
        // What a kill during an atomic write leaves: its temporary file, in the run's own
        // directory and in the pruning run's. Resuming deletes them.
        let leftovers = ["split/.report.json.5F0A.tmp", "split/prune/.run.json.5F0A.tmp"]
        for leftover in leftovers { try Data("half".utf8).write(to: scratch.appendingPathComponent(leftover)) }

        (status, output) = try runPare(["compress", "--resume", path("split")])
        XCTAssertEqual(status, 0, output)
        XCTAssertTrue(output.contains("resuming") && output.contains("after: teacher, start, sensitivity, allocate"), output)
        for leftover in leftovers { XCTAssertFalse(exists(leftover), "\(leftover) was left behind") }
        let a = try SafetensorsFile.read(from: scratch.appendingPathComponent("whole/final.safetensors"))
        let b = try SafetensorsFile.read(from: scratch.appendingPathComponent("split/final.safetensors"))
        XCTAssertEqual(Set(a.tensors.keys), Set(b.tensors.keys))
        for (name, tensor) in a.tensors {
            let other = try XCTUnwrap(b.tensors[name], name)
            XCTAssertEqual(tensor.shape, other.shape, name)
            XCTAssertEqual(memcmp(tensor.storage.pointer, other.storage.pointer, tensor.byteCount), 0, "\(name) differs")
        }
        func accuracies(_ dir: String) throws -> [String] {
            let report = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: scratch.appendingPathComponent("\(dir)/report.json")))
                as? [String: Any])
            return (report["steps"] as? [[String: Any]] ?? []).map { "\($0["name"] ?? "") \($0["validationAccuracy"] ?? "") \($0["testAccuracy"] ?? "")" }
        }
        XCTAssertEqual(try accuracies("whole"), try accuracies("split"))
    }

    func testSensitivityTableFilesAndTrainCurves() throws {
        let data = try writeQuadrantMNIST(in: scratch.appendingPathComponent("data"), train: 128, test: 32)
        var (status, output) = try runPare(["train", "smallcnn", "--data", data, "--epochs", "1", "--batch", "32", "--threads", "1",
                                            "--val-fraction", "0.25", "--out", path("t")])
        XCTAssertEqual(status, 0, output)
        for svg in ["t/accuracy.svg", "t/loss.svg"] {
            XCTAssertTrue(XMLParser(contentsOf: scratch.appendingPathComponent(svg))?.parse() ?? false, svg)
        }
        (status, output) = try runPare(["sensitivity", path("t/best.safetensors"), "--data", data, "--samples", "16", "--val-fraction", "0.25",
                                        "--ratios", "0.25,0.75", "--threads", "1", "--out", path("s")])
        XCTAssertEqual(status, 0, output)
        XCTAssertTrue(output.contains("conv1") && output.contains("conv2") && output.contains("fc1"), output)
        XCTAssertTrue(output.contains("on 16 samples"), output)
        XCTAssertTrue(exists("s/sensitivity.json") && exists("s/sensitivity.svg"))
        (status, output) = try runPare(["sensitivity", path("t/best.safetensors"), "--data", data, "--ratios", "0.5,0.2"])
        XCTAssertNotEqual(status, 0)
        XCTAssertTrue(output.contains("--ratios must increase"), output)
        (status, output) = try runPare(["sensitivity", path("nothing.safetensors"), "--data", data])
        XCTAssertNotEqual(status, 0)
        XCTAssertTrue(output.contains("no such file"), output)
    }

    /// A checkpoint trained with its own normalisation is compressed with that normalisation
    /// (as `pare eval` and `pare quantize` read it), not the data set's preset.
    func testCompressKeepsTheCheckpointsNormalisation() throws {
        let data = try writeQuadrantMNIST(in: scratch.appendingPathComponent("data"), train: 64, test: 16)
        var (status, output) = try runPare(["train", "smallcnn", "--data", data, "--epochs", "1", "--batch", "32", "--threads", "1",
                                            "--normalize", "none", "--out", path("t")])
        XCTAssertEqual(status, 0, output)
        (status, output) = try runPare(["compress", path("t/best.safetensors"), "--data", data, "--target", "params=1M",
                                        "--recipe", "quantize", "--calibration-batches", "1", "--bench-runs", "2", "--threads", "1",
                                        "--max-drop", "100", "--out", path("c")])
        XCTAssertEqual(status, 0, output)
        let state = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: scratch.appendingPathComponent("c/state.json")))
            as? [String: Any])
        let training = try XCTUnwrap((state["configuration"] as? [String: Any])?["training"] as? [String: Any])
        XCTAssertEqual((training["normalizationMean"] as? [Any])?.count, 0, "\(training)")
    }

    func testBadInputIsNamed() throws {
        let data = try writeQuadrantMNIST(in: scratch.appendingPathComponent("data"), train: 64, test: 16)
        let cases: [([String], String)] = [
            (["compress", "smallcnn", "--data", data, "--target", "params=1k", "--out", path("a")], "untrained weights: add --train-teacher"),
            (["compress", "smallcnn", "--data", data, "--train-teacher", "--out", path("a")], "give --target"),
            (["compress", "smallcnn", "--data", data, "--train-teacher", "--target", "params=lots", "--out", path("a")], "not a positive number"),
            (["compress", "smallcnn", "--data", data, "--train-teacher", "--target", "speed=2", "--out", path("a")], "unknown measure 'speed'"),
            (["compress", "smallcnn", "--data", data, "--train-teacher", "--target", "params=1k", "--recipe", "prune,shrink",
              "--out", path("a")], "unknown step 'shrink'"),
            (["compress", "smallcnn", "--data", data, "--train-teacher", "--teacher", path("t.safetensors"), "--target", "params=1k",
              "--out", path("a")], "choose one"),
            (["compress", "--resume", path("nowhere")], "no compression run there"),
            (["report", path("nowhere")], "no report.json"),
        ]
        for (arguments, message) in cases {
            let (status, output) = try runPare(arguments)
            XCTAssertNotEqual(status, 0, arguments.joined(separator: " "))
            XCTAssertTrue(output.contains(message), "\(arguments.joined(separator: " ")): \(output)")
        }
        XCTAssertFalse(exists("a/state.json"))
    }
}
