import Foundation
import PareCore
import PareIO
import XCTest

/// `pare quantize` end to end: an int8 file with I8 weights about a quarter of the f32 one,
/// that reloads, evaluates, benchmarks on int8 kernels and summarises with each layer's
/// precision; and the errors for bad input.
final class QuantizeCommandTests: XCTestCase {
    var scratch: URL!

    override func setUpWithError() throws {
        scratch = FileManager.default.temporaryDirectory.appendingPathComponent("pare-quantize-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
    }

    override func tearDown() {
        try? FileManager.default.removeItem(at: scratch)
    }

    private func path(_ name: String) -> String { scratch.appendingPathComponent(name).path }

    func testQuantizeEvaluateBenchAndSummarise() throws {
        let data = try writeQuadrantMNIST(in: scratch.appendingPathComponent("data"), train: 256, test: 64)
        var (status, output) = try runPare(["train", "smallcnn", "--data", data, "--epochs", "3", "--batch", "32", "--optimizer", "adam",
                                            "--lr", "0.002", "--threads", "1", "--out", path("t")])
        XCTAssertEqual(status, 0, output)
        // Without VNNI the 1-channel conv1 stays f32 by default (named in the report).
        (status, output) = try runPare(["quantize", path("t/best.safetensors"), "--calibration-batches", "2", "--batch", "16",
                                        "--out", path("q/default.safetensors"), "--json"])
        XCTAssertEqual(status, 0, output)
        let defaults = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any], output)
        let layers = try XCTUnwrap((defaults["quantization"] as? [String: Any])?["layers"] as? [[String: Any]], output)
        let conv1 = try XCTUnwrap(layers.first { $0["name"] as? String == "conv1" }, output)
        let noVNNI = (defaults["isa"] as? String ?? "").contains("no vnni")
        XCTAssertEqual(conv1["precision"] as? String, noVNNI ? "f32" : "int8", output)
        if noVNNI { XCTAssertEqual(conv1["note"] as? String, "kept in f32 (1 input channel, below the int8 minimum of 4)", output) }
        (status, output) = try runPare(["quantize", path("t/best.safetensors"), "--calibration-batches", "2", "--int8-min-channels", "0",
                                        "--out", path("q/bad.safetensors")])
        XCTAssertNotEqual(status, 0, output)
        XCTAssertTrue(output.contains("--int8-min-channels must be at least 1"), output)

        (status, output) = try runPare(["quantize", path("t/best.safetensors"), "--calibration-batches", "4", "--batch", "16",
                                        "--method", "percentile=99.99", "--int8-min-channels", "1", "--eval",
                                        "--out", path("q/m-int8.safetensors"), "--json"])
        XCTAssertEqual(status, 0, output)
        let report = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any], output)
        let quantization = try XCTUnwrap(report["quantization"] as? [String: Any])
        XCTAssertEqual(quantization["method"] as? String, "percentile=99.99")
        XCTAssertEqual(quantization["calibrationSamples"] as? Int, 64)
        let ratio = try XCTUnwrap(report["fileRatio"] as? Double)
        XCTAssertLessThan(ratio, 0.3, output)
        let before = try XCTUnwrap(report["testAccuracyBefore"] as? Double), after = try XCTUnwrap(report["testAccuracyAfter"] as? Double)
        XCTAssertGreaterThan(before, 0.8, output)
        XCTAssertLessThan(abs(after - before), 0.05, output)

        // The file: I8 weights with their scales, and int8 nodes.
        let file = try SafetensorsFile.read(from: scratch.appendingPathComponent("q/m-int8.safetensors"))
        let weights = file.tensors.filter { $0.key.hasSuffix(".weight") && $0.value.dtype == .i8 }
        XCTAssertEqual(weights.count, 4, "conv1, conv2, fc1, fc2 in int8: \(file.tensors.keys.sorted())")
        XCTAssertNotNil(file.tensors["conv1.weight_scale"])
        let graph = try ModelFile.load(from: scratch.appendingPathComponent("q/m-int8.safetensors"))
        XCTAssertTrue(graph.nodes.contains { $0.quantization?.weights != nil })

        // Eval reads the normalisation from the checkpoint metadata the int8 file keeps.
        (status, output) = try runPare(["eval", path("q/m-int8.safetensors"), "--json"])
        XCTAssertEqual(status, 0, output)
        let evaluation = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any], output)
        let top1 = try XCTUnwrap((evaluation["result"] as? [String: Any])?["top1"] as? Double)
        XCTAssertEqual(top1, after, accuracy: 1e-9)

        (status, output) = try runPare(["bench", path("q/m-int8.safetensors"), "--runs", "3", "--warmup", "1"])
        XCTAssertEqual(status, 0, output)
        // oneDNN's int8 convolutions: jit_uni_int8 on AVX2, brgconv:avx512_core_vnni with VNNI; never its reference one.
        let kernels = try XCTUnwrap(output.split(separator: "\n").first { $0.hasPrefix("kernels:") }, output)
        XCTAssertTrue(kernels.contains("int8 (u8/s8 x s8)") && kernels.contains("convolutions:") && !kernels.contains("ref"), output)
        XCTAssertTrue(kernels.contains("jit_uni_int8") || kernels.contains("_vnni") || kernels.contains("int8:"), output)

        (status, output) = try runPare(["summary", path("q/m-int8.safetensors")])
        XCTAssertEqual(status, 0, output)
        XCTAssertTrue(output.contains("Precision") && output.contains("int8 w"), output)
        XCTAssertTrue(output.contains("Native file (.safetensors)"), output)

        // Quantising an int8 model again is refused, naming a node.
        (status, output) = try runPare(["quantize", path("q/m-int8.safetensors"), "--out", path("q/twice.safetensors")])
        XCTAssertNotEqual(status, 0)
        XCTAssertTrue(output.contains("already quantised"), output)
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("q/twice.safetensors")))
    }

    func testBadInputIsNamed() throws {
        let data = try writeQuadrantMNIST(in: scratch.appendingPathComponent("data"), train: 64, test: 16)
        var (status, output) = try runPare(["train", "smallcnn", "--data", data, "--epochs", "1", "--batch", "32", "--out", path("t")])
        XCTAssertEqual(status, 0, output)
        let model = path("t/best.safetensors")
        (status, output) = try runPare(["quantize", model, "--method", "median", "--out", path("x.safetensors")])
        XCTAssertNotEqual(status, 0)
        XCTAssertTrue(output.contains("calibration method 'median'"), output)
        (status, output) = try runPare(["quantize", model, "--keep-fp32", "conv9", "--out", path("x.safetensors")])
        XCTAssertNotEqual(status, 0)
        XCTAssertTrue(output.contains("no node named 'conv9'"), output)
        (status, output) = try runPare(["quantize", model, "--data", "cifar10:" + path("nowhere"), "--out", path("x.safetensors")])
        XCTAssertNotEqual(status, 0)
        (status, output) = try runPare(["quantize", path("missing.safetensors"), "--out", path("x.safetensors")])
        XCTAssertNotEqual(status, 0)
        XCTAssertTrue(output.contains("no such model file"), output)
        // Keeping layers in f32 is honoured and listed.
        (status, output) = try runPare(["quantize", model, "--keep-fp32", "conv1,fc2", "--calibration-batches", "2",
                                        "--out", path("k.safetensors")])
        XCTAssertEqual(status, 0, output)
        XCTAssertTrue(output.contains("conv1 (conv2d): kept in f32 (asked)"), output)
        let graph = try ModelFile.load(from: scratch.appendingPathComponent("k.safetensors"))
        XCTAssertEqual(graph.parameters["conv1.weight"]?.dtype, .f32)
        XCTAssertEqual(graph.parameters["conv2.weight"]?.dtype, .i8)
    }

    func testHalfPrecisionWeights() throws {
        let data = try writeQuadrantMNIST(in: scratch.appendingPathComponent("data"), train: 64, test: 32)
        var (status, output) = try runPare(["train", "smallcnn", "--data", data, "--epochs", "1", "--batch", "32", "--out", path("t")])
        XCTAssertEqual(status, 0, output)
        for (flag, dtype) in [("fp16", "F16"), ("bf16", "BF16")] {
            (status, output) = try runPare(["quantize", path("t/best.safetensors"), "--weights", flag, "--eval",
                                            "--out", path("\(flag).safetensors"), "--json"])
            XCTAssertEqual(status, 0, output)
            let report = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any], output)
            let ratio = try XCTUnwrap(report["fileRatio"] as? Double)
            XCTAssertLessThan(ratio, 0.52, output)
            XCTAssertGreaterThan(ratio, 0.45, output)
            let before = try XCTUnwrap(report["testAccuracyBefore"] as? Double), after = try XCTUnwrap(report["testAccuracyAfter"] as? Double)
            XCTAssertEqual(before, after, accuracy: 1.0 / 32 + 1e-9, output)
            let file = try SafetensorsFile.read(from: scratch.appendingPathComponent("\(flag).safetensors"))
            XCTAssertEqual(file.tensors["conv1.weight"]?.dtype.safetensorsName, dtype)
            // It loads as an f32 model and evaluates with the checkpoint's settings.
            let graph = try ModelFile.load(from: scratch.appendingPathComponent("\(flag).safetensors"))
            XCTAssertEqual(graph.parameters["conv1.weight"]?.dtype, .f32)
            (status, output) = try runPare(["eval", path("\(flag).safetensors")])
            XCTAssertEqual(status, 0, output)
        }
        (status, output) = try runPare(["quantize", path("t/best.safetensors"), "--weights", "fp8", "--out", path("x.safetensors")])
        XCTAssertNotEqual(status, 0)
        XCTAssertTrue(output.contains("--weights must be fp16 or bf16"), output)
    }

    /// By default a residual add runs inside the convolution before it (oneDNN's sum
    /// post-op, in the residual's buffer where nothing reads it later);
    /// `--separate-residual-adds` runs every add as its own int8 primitive.
    func testResidualAddsFuseUnlessSeparated() throws {
        var (status, output) = try runPare(["quantize", "resnet20", "--synthetic", "--calibration-batches", "1", "--batch", "2",
                                            "--out", path("fused.safetensors")])
        XCTAssertEqual(status, 0, output)
        (status, output) = try runPare(["bench", path("fused.safetensors"), "--runs", "1", "--warmup", "0", "--plan"])
        XCTAssertEqual(status, 0, output)
        XCTAssertTrue(output.contains("layer1.0.conv2 conv forward int8 + add_9 + relu"), output)
        XCTAssertTrue(output.contains("layer1.1.conv2 adds into relu_10's buffer in place (int8 residual)"), output)
        XCTAssertFalse(output.contains("add_9 add int8"), output)

        (status, output) = try runPare(["quantize", "resnet20", "--synthetic", "--calibration-batches", "1", "--batch", "2",
                                        "--separate-residual-adds", "--out", path("separate.safetensors")])
        XCTAssertEqual(status, 0, output)
        (status, output) = try runPare(["bench", path("separate.safetensors"), "--runs", "1", "--warmup", "0", "--plan"])
        XCTAssertEqual(status, 0, output)
        XCTAssertTrue(output.contains("add_9 add int8 + relu"), output)
        XCTAssertFalse(output.contains("(int8 residual)"), output)

        (status, output) = try runPare(["train", "smallcnn", "--data", "fashion-mnist:" + path("nowhere"), "--separate-residual-adds",
                                        "--out", path("t")])
        XCTAssertNotEqual(status, 0)
        XCTAssertTrue(output.contains("--separate-residual-adds needs --qat"), output)
    }
}

/// `pare quantize --qat-epochs` and `pare train --qat`: quantisation-aware training from the
/// command line, its int8 file, and the errors.
final class QuantizationAwareCommandTests: XCTestCase {
    var scratch: URL!

    override func setUpWithError() throws {
        scratch = FileManager.default.temporaryDirectory.appendingPathComponent("pare-qat-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
    }

    override func tearDown() {
        try? FileManager.default.removeItem(at: scratch)
    }

    private func path(_ name: String) -> String { scratch.appendingPathComponent(name).path }

    func testQuantizeWithQuantizationAwareEpochsAndTrainWithQAT() throws {
        let data = try writeQuadrantMNIST(in: scratch.appendingPathComponent("data"), train: 256, test: 64)
        var (status, output) = try runPare(["train", "smallcnn", "--data", data, "--epochs", "3", "--batch", "32", "--optimizer", "adam",
                                            "--lr", "0.002", "--threads", "1", "--out", path("t")])
        XCTAssertEqual(status, 0, output)
        let model = path("t/best.safetensors")

        // Text: per-epoch progress and the accuracies before and after.
        (status, output) = try runPare(["quantize", model, "--data", data, "--qat-epochs", "1", "--calibration-batches", "4",
                                        "--batch", "16", "--threads", "1", "--int8-min-channels", "1", "--qat-run", path("qat-run"),
                                        "--out", path("q.safetensors")])
        XCTAssertEqual(status, 0, output)
        XCTAssertTrue(output.contains("epoch 1/1"), output)
        XCTAssertTrue(output.contains("post-training int8") && output.contains("quantisation-aware int8"), output)
        XCTAssertTrue(FileManager.default.fileExists(atPath: path("qat-run/best.safetensors")), output)
        let graph = try ModelFile.load(from: scratch.appendingPathComponent("q.safetensors"))
        XCTAssertEqual(graph.parameters["conv1.weight"]?.dtype, .i8)
        XCTAssertNotNil(graph.parameters["conv1.weight_scale"])
        // The int8 file evaluates like any int8 model.
        (status, output) = try runPare(["eval", path("q.safetensors"), "--json"])
        XCTAssertEqual(status, 0, output)

        // JSON: the report, with the QAT figures, measured on the file written.
        (status, output) = try runPare(["quantize", model, "--data", data, "--qat-epochs", "1", "--qat-lr", "0.00005",
                                        "--calibration-batches", "4", "--batch", "16", "--threads", "1", "--eval",
                                        "--out", path("q2.safetensors"), "--json"])
        XCTAssertEqual(status, 0, output)
        let report = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any], output)
        let qat = try XCTUnwrap(report["qat"] as? [String: Any], output)
        XCTAssertEqual(qat["epochs"] as? Int, 1)
        XCTAssertEqual(qat["learningRate"] as? Double ?? 0, 0.00005, accuracy: 1e-9)
        let before = try XCTUnwrap(report["testAccuracyBefore"] as? Double), after = try XCTUnwrap(report["testAccuracyAfter"] as? Double)
        XCTAssertGreaterThan(before, 0.8, output)
        XCTAssertLessThan(abs(after - before), 0.05, output)
        XCTAssertEqual(qat["testAccuracy"] as? Double, after)
        XCTAssertLessThan(try XCTUnwrap(report["fileRatio"] as? Double), 0.3, output)
        XCTAssertEqual((report["quantization"] as? [String: Any])?["calibrationSamples"] as? Int, 64)

        // pare train --qat: a resumable run and int8.safetensors at the end.
        (status, output) = try runPare(["train", model, "--data", data, "--qat", "--epochs", "1", "--batch", "32",
                                        "--calibration-batches", "2", "--threads", "1", "--out", path("tq"), "--json"])
        XCTAssertEqual(status, 0, output)
        let trained = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any], output)
        let int8 = try XCTUnwrap(trained["int8"] as? [String: Any], output)
        XCTAssertGreaterThan(int8["testAccuracy"] as? Double ?? 0, 0.8, output)
        XCTAssertNotNil(trained["training"] as? [String: Any])
        let written = try ModelFile.load(from: scratch.appendingPathComponent("tq/int8.safetensors"))
        XCTAssertTrue(written.nodes.contains { $0.quantization?.weights != nil })
        // Longer, by resuming: still quantisation-aware, and a new int8 file.
        (status, output) = try runPare(["train", "--resume", path("tq"), "--epochs", "2"])
        XCTAssertEqual(status, 0, output)
        XCTAssertTrue(output.contains("int8 model of the best epoch"), output)
    }

    func testQuantizationAwareErrors() throws {
        let data = try writeQuadrantMNIST(in: scratch.appendingPathComponent("data"), train: 64, test: 16)
        var (status, output) = try runPare(["train", "smallcnn", "--data", data, "--epochs", "1", "--batch", "32", "--out", path("t")])
        XCTAssertEqual(status, 0, output)
        let model = path("t/best.safetensors")
        (status, output) = try runPare(["quantize", model, "--qat-epochs", "1", "--out", path("x.safetensors")])
        XCTAssertNotEqual(status, 0)
        XCTAssertTrue(output.contains("--qat-epochs trains on data: give --data"), output)
        (status, output) = try runPare(["quantize", model, "--data", data, "--qat-epochs=-1", "--out", path("x.safetensors")])
        XCTAssertNotEqual(status, 0)
        XCTAssertTrue(output.contains("--qat-epochs must not be negative"), output)
        (status, output) = try runPare(["quantize", model, "--data", data, "--qat-epochs", "1", "--qat-lr", "0", "--out", path("x.safetensors")])
        XCTAssertNotEqual(status, 0)
        XCTAssertTrue(output.contains("--qat-lr must be positive"), output)
        // An int8 model is refused by both commands, naming a node.
        (status, output) = try runPare(["quantize", model, "--calibration-batches", "2", "--out", path("q.safetensors")])
        XCTAssertEqual(status, 0, output)
        (status, output) = try runPare(["quantize", path("q.safetensors"), "--data", data, "--qat-epochs", "1", "--out", path("x.safetensors")])
        XCTAssertNotEqual(status, 0)
        XCTAssertTrue(output.contains("already quantised"), output)
        (status, output) = try runPare(["train", path("q.safetensors"), "--data", data, "--qat", "--out", path("r")])
        XCTAssertNotEqual(status, 0)
        XCTAssertTrue(output.contains("already quantised"), output)
        (status, output) = try runPare(["train", "smallcnn", "--data", data, "--qat", "--out", path("r2")])
        XCTAssertNotEqual(status, 0)
        XCTAssertTrue(output.contains("--qat fine-tunes a trained f32 model"), output)
        (status, output) = try runPare(["train", "--resume", path("t"), "--qat"])
        XCTAssertNotEqual(status, 0)
        XCTAssertTrue(output.contains("not quantisation-aware"), output)
        (status, output) = try runPare(["train", model, "--data", data, "--int8-min-channels", "2", "--out", path("r3")])
        XCTAssertNotEqual(status, 0)
        XCTAssertTrue(output.contains("--int8-min-channels needs --qat"), output)
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("x.safetensors")))
    }
}
