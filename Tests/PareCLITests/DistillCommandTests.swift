import Foundation
import XCTest

/// `pare distill` (with a hint and the AdamW-then-SGD recipe), `pare prune --teacher`,
/// `pare compare` end to end, and their errors for bad input.
final class DistillCommandTests: XCTestCase {
    var scratch: URL!

    override func setUpWithError() throws {
        scratch = FileManager.default.temporaryDirectory.appendingPathComponent("pare-distill-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
    }

    override func tearDown() {
        try? FileManager.default.removeItem(at: scratch)
    }

    private func path(_ name: String) -> String { scratch.appendingPathComponent(name).path }

    func testDistillPruneWithTeacherAndCompare() throws {
        let data = try writeQuadrantMNIST(in: scratch.appendingPathComponent("data"), train: 256, test: 64)
        var (status, output) = try runPare(["train", "smallcnn", "--data", data, "--epochs", "1", "--batch", "32", "--out", path("t")])
        XCTAssertEqual(status, 0, output)
        let teacher = path("t/best.safetensors")

        // A quarter-width student, a hint between the second convolutions, AdamW then SGD.
        (status, output) = try runPare(["distill", "--teacher", teacher, "--student", "smallcnn", "--width-multiplier", "0.25",
                                        "--data", data, "--epochs", "1", "--optimizer", "adamw", "--then", "sgd:epochs=1,lr=0.01",
                                        "--batch", "32", "--alpha", "0.9", "--temperature", "4", "--hint", "conv2=conv2",
                                        "--out", path("kd")])
        XCTAssertEqual(status, 0, output)
        XCTAssertTrue(output.contains("student smallcnn: 14,410 parameters"), output)
        XCTAssertTrue(output.contains("0.9·T²·KL") && output.contains("+ 0.1·CE") && output.contains("MSE(conv2, adapter(conv2))"), output)
        XCTAssertTrue(output.contains("(adapters start kaiming)"), output)
        XCTAssertTrue(output.contains("teacher test accuracy"), output)
        XCTAssertTrue(output.contains("then sgd:epochs=1"), output)
        XCTAssertTrue(output.contains("student.safetensors"), output)
        let summary = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: scratch.appendingPathComponent("kd/summary.json"))) as? [String: Any])
        XCTAssertEqual(summary["completedEpochs"] as? Int, 2)
        // The student file has no adapter; the run's checkpoints do.
        (status, output) = try runPare(["summary", path("kd/student.safetensors")])
        XCTAssertEqual(status, 0, output)
        XCTAssertFalse(output.contains("hint.0.adapter"), output)
        XCTAssertTrue(output.contains("14,410"), output)
        // Resuming a finished run trains nothing more and keeps the teacher check.
        (status, output) = try runPare(["distill", "--resume", path("kd")])
        XCTAssertEqual(status, 0, output)
        XCTAssertTrue(output.contains("after epoch 2 of 2"), output)
        (status, output) = try runPare(["distill", "--resume", path("kd"), "--teacher", path("kd/student.safetensors")])
        XCTAssertNotEqual(status, 0)
        XCTAssertTrue(output.contains("teacher"), output)

        // Pruning fine-tuned against the teacher.
        (status, output) = try runPare(["prune", teacher, "--data", data, "--criterion", "l1", "--ratio", "0.5",
                                        "--finetune-epochs", "1", "--batch", "32", "--teacher", teacher, "--alpha", "0.7",
                                        "--bench-runs", "2", "--out", path("p")])
        XCTAssertEqual(status, 0, output)
        let stepState = try String(contentsOf: scratch.appendingPathComponent("p/run.json"), encoding: .utf8)
        XCTAssertTrue(stepState.contains("\"distillation\""), stepState)

        (status, output) = try runPare(["compare", teacher, path("kd/student.safetensors"), path("p/pruned.safetensors"),
                                        "--data", data, "--runs", "3", "--json"])
        XCTAssertEqual(status, 0, output)
        let report = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any])
        let rows = try XCTUnwrap(report["rows"] as? [[String: Any]])
        XCTAssertEqual(rows.count, 3)
        XCTAssertEqual(rows[1]["parameters"] as? Int, 14_410)
        XCTAssertTrue(rows.allSatisfy { ($0["testAccuracy"] as? Double).map { $0 > 0 && $0 <= 1 } == true }, output)
        XCTAssertTrue(rows.allSatisfy { ($0["latencyMilliseconds"] as? Double).map { $0 > 0 } == true }, output)
        let fileBytes = try XCTUnwrap(rows[1]["fileBytes"] as? Int)
        let onDisk = try FileManager.default.attributesOfItem(atPath: path("kd/student.safetensors"))[.size] as? Int
        XCTAssertEqual(fileBytes, onDisk)
        (status, output) = try runPare(["compare", teacher, "smallcnn", "--runs", "2"])
        XCTAssertEqual(status, 0, output)
        XCTAssertTrue(output.contains("speed-up") && output.contains("MAC ratio") && output.contains("kernels:"), output)
    }

    func testDistillErrorsNameTheProblem() throws {
        let data = try writeQuadrantMNIST(in: scratch.appendingPathComponent("data"), train: 64, test: 16)
        var (status, output) = try runPare(["distill", "--teacher", path("missing.safetensors"), "--student", "smallcnn",
                                            "--data", data, "--out", path("a")])
        XCTAssertNotEqual(status, 0)
        XCTAssertTrue(output.contains("no such file"), output)
        (status, output) = try runPare(["train", "smallcnn", "--data", data, "--epochs", "1", "--batch", "16", "--out", path("t")])
        XCTAssertEqual(status, 0, output)
        // A teacher for other classes (a 1000-class resnet18 saved as a file) and a malformed hint.
        (status, output) = try runPare(["distill", "--teacher", path("t/best.safetensors"), "--student", "resnet20", "--data", data,
                                        "--hint", "conv2", "--out", path("b")])
        XCTAssertNotEqual(status, 0)
        XCTAssertTrue(output.contains("TEACHER_NODE=STUDENT_NODE"), output)
        (status, output) = try runPare(["distill", "--teacher", path("t/best.safetensors"), "--student", "smallcnn", "--data", data,
                                        "--hint", "conv9=conv2", "--out", path("c")])
        XCTAssertNotEqual(status, 0)
        XCTAssertTrue(output.contains("no node 'conv9'"), output)
        (status, output) = try runPare(["distill", "--teacher", path("t/best.safetensors"), "--student", "smallcnn", "--data", data,
                                        "--width-multiplier", "0.25", "--hint", "conv2=conv2", "--hint-init", "identity",
                                        "--out", path("c2")])
        XCTAssertNotEqual(status, 0)
        XCTAssertTrue(output.contains("identity adapter needs as many student channels"), output)
        (status, output) = try runPare(["distill", "--teacher", path("t/best.safetensors"), "--student", "smallcnn", "--data", data,
                                        "--hint", "conv2=conv2", "--hint-init", "eye", "--out", path("c3")])
        XCTAssertNotEqual(status, 0)
        XCTAssertTrue(output.contains("kaiming") && output.contains("identity"), output)
        (status, output) = try runPare(["distill", "--teacher", path("t/best.safetensors"), "--student", "smallcnn", "--data", data,
                                        "--then", "sgd:lr=0.1", "--out", path("d")])
        XCTAssertNotEqual(status, 0)
        XCTAssertTrue(output.contains("give epochs=E"), output)
        (status, output) = try runPare(["prune", path("t/best.safetensors"), "--teacher", path("t/best.safetensors"), "--out", path("e")])
        XCTAssertNotEqual(status, 0)
        XCTAssertTrue(output.contains("--finetune-epochs"), output)
    }
}
