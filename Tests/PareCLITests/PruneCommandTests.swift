import Foundation
import XCTest

/// `pare prune` end to end: groups, a data-free one-shot prune, a plan re-applied, a
/// fine-tuned run, the pruned file in summary and bench, and the errors of bad input.
final class PruneCommandTests: XCTestCase {
    var scratch: URL!

    override func setUpWithError() throws {
        scratch = FileManager.default.temporaryDirectory.appendingPathComponent("pare-prune-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
    }

    override func tearDown() {
        try? FileManager.default.removeItem(at: scratch)
    }

    private func path(_ name: String) -> String { scratch.appendingPathComponent(name).path }

    func testShowGroupsPrintsMembersAndWritesJSON() throws {
        let (status, output) = try runPare(["prune", "resnet18-cifar", "--show-groups", "--groups-json", path("g.json")])
        XCTAssertEqual(status, 0, output)
        XCTAssertTrue(output.contains("layer1.0.conv2"), output)
        XCTAssertTrue(output.contains("not prunable: it reaches the graph input 'input'"), output)
        let groups = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: scratch.appendingPathComponent("g.json"))) as? [[String: Any]])
        XCTAssertEqual(groups.count, 14)  // the input, 4 residual stages, 8 block-inner groups, fc
        XCTAssertEqual(groups.filter { ($0["prunable"] as? Bool) == true }.count, 12)
    }

    func testDataFreePruneWritesASmallerModelThatSummaryBenchAndExportRead() throws {
        var (status, output) = try runPare(["prune", "resnet18-cifar", "--criterion", "l1", "--ratio", "0.5", "--out", path("p"),
                                            "--bench-runs", "2"])
        XCTAssertEqual(status, 0, output)
        XCTAssertTrue(output.contains("parameters 11,173,962 -> 2,797,610"), output)  // Torch-Pruning's 50% uniform: 2.80 M
        let pruned = path("p/pruned.safetensors")
        (status, output) = try runPare(["summary", pruned])
        XCTAssertEqual(status, 0, output)
        XCTAssertTrue(output.contains("2,797,610"), output)
        (status, output) = try runPare(["bench", pruned, "--runs", "2", "--warmup", "1"])
        XCTAssertEqual(status, 0, output)
        (status, output) = try runPare(["export", pruned, "--onnx", path("p.onnx")])
        XCTAssertEqual(status, 0, output)

        // The plan re-applied to the same model gives the same architecture.
        (status, output) = try runPare(["prune", "resnet18-cifar", "--plan", path("p/plan.json"), "--out", path("q"), "--bench-runs", "2"])
        XCTAssertEqual(status, 0, output)
        XCTAssertTrue(output.contains("2,797,610"), output)
        // ... and refused by a model it does not fit.
        (status, output) = try runPare(["prune", "resnet20", "--plan", path("p/plan.json"), "--out", path("r")])
        XCTAssertNotEqual(status, 0)
        XCTAssertTrue(output.contains("the plan does not fit the model"), output)
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("r/pruned.safetensors")))
    }

    func testFineTunedPerStepRunWithDataAndResume() throws {
        let data = try writeQuadrantMNIST(in: scratch.appendingPathComponent("data"), train: 256, test: 64)
        var (status, output) = try runPare(["train", "smallcnn", "--data", data, "--epochs", "1", "--batch", "32", "--out", path("t")])
        XCTAssertEqual(status, 0, output)
        let trained = path("t/best.safetensors")
        (status, output) = try runPare(["prune", trained, "--data", data, "--criterion", "mean-activation", "--scope", "global",
                                        "--per-step", "0.5", "--target", "params=0.5", "--finetune-epochs", "1", "--batch", "32",
                                        "--calibration-batches", "2", "--bench-runs", "2", "--out", path("p"), "--json"])
        XCTAssertEqual(status, 0, output)
        let steps = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: scratch.appendingPathComponent("p/steps.json"))) as? [[String: Any]])
        XCTAssertGreaterThanOrEqual(steps.count, 2)
        let parameters = steps.compactMap { $0["parameters"] as? Int }
        XCTAssertLessThanOrEqual(parameters.last!, parameters.first! / 2, "\(parameters)")
        XCTAssertNotNil(steps.last?["testAccuracy"] as? Double)
        let svg = try String(contentsOfFile: path("p/accuracy-vs-parameters.svg"), encoding: .utf8)
        XCTAssertTrue(svg.hasPrefix("<svg") && svg.contains("<polyline"), svg)
        // A finished run resumes to the same records.
        (status, output) = try runPare(["prune", "--resume", path("p"), "--json"])
        XCTAssertEqual(status, 0, output)
        XCTAssertTrue(output.contains("\"parameters\" : \(parameters.last!)"), output)

        // A data set that does not fit the model (3x32x32 images in 10 classes for tiny-residual).
        (status, output) = try runPare(["prune", "tiny-residual", "--classes", "7", "--out", path("tr"), "--bench-runs", "1"])
        XCTAssertEqual(status, 0, output)
        (status, output) = try runPare(["prune", path("tr/pruned.safetensors"), "--data", data, "--out", path("x")])
        XCTAssertNotEqual(status, 0)
        XCTAssertTrue(output.contains("does not fit --data \(data)") && output.contains("takes 3x32x32 images"), output)
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("x")))
    }

    func testBadInputIsRefusedNamingTheProblemAndWritingNothing() throws {
        let cases: [([String], String)] = [
            (["prune", "resnet20", "--ratio", "1.2", "--out", path("a")], "outside [0, 1)"),
            (["prune", "resnet20", "--ratio", "layer9=0.3", "--out", path("a")], "--ratio 'layer9' names no node"),
            (["prune", "resnet20", "--ignore", "conv9", "--out", path("a")], "--ignore 'conv9' names no node"),
            (["prune", "resnet20", "--criterion", "taylor", "--out", path("a")], "give --data"),
            (["prune", "resnet20", "--criterion", "magic", "--out", path("a")], "--criterion 'magic'"),
            (["prune", "resnet20", "--per-step", "0.1", "--out", path("a")], "--target"),
            (["prune", "resnet20", "--plan", path("missing.json"), "--out", path("a")], "missing.json"),
            (["prune", "resnet20"], "--out"),
        ]
        for (arguments, expected) in cases {
            let (status, output) = try runPare(arguments)
            XCTAssertNotEqual(status, 0, arguments.joined(separator: " "))
            XCTAssertTrue(output.contains(expected), "\(arguments.joined(separator: " ")): \(output)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("a")), "nothing is written for bad input")
    }
}
