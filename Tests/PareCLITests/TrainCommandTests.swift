import CZlib
import Foundation
import XCTest

/// `pare train` and `pare eval` end to end on a small MNIST-format data set written here.
final class TrainCommandTests: XCTestCase {
    var scratch: URL!

    override func setUpWithError() throws {
        scratch = FileManager.default.temporaryDirectory.appendingPathComponent("pare-train-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
    }

    override func tearDown() {
        try? FileManager.default.removeItem(at: scratch)
    }

    func process(_ arguments: [String]) throws -> (Process, Pipe) {
        let process = Process()
        process.executableURL = pareBinary
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        return (process, pipe)
    }

    func run(_ arguments: [String]) throws -> (status: Int32, output: String) { try runPare(arguments) }

    /// MNIST-format files of 28×28 images in 4 classes (``writeQuadrantMNIST``).
    func writeDataSet(train: Int, test: Int) throws -> String {
        try writeQuadrantMNIST(in: scratch.appendingPathComponent("data"), train: train, test: test)
    }

    func tensors(_ file: URL) throws -> [String: Data] {
        let data = try Data(contentsOf: file)
        let headerLength = data.prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }
        let header = try XCTUnwrap(JSONSerialization.jsonObject(with: data.subdata(in: 8..<(8 + Int(headerLength)))) as? [String: Any])
        var result: [String: Data] = [:]
        for (name, entry) in header where name != "__metadata__" {
            let offsets = try XCTUnwrap((entry as? [String: Any])?["data_offsets"] as? [Int])
            let start = 8 + Int(headerLength)
            result[name] = data.subdata(in: (start + offsets[0])..<(start + offsets[1]))
        }
        return result
    }

    /// A run killed with SIGKILL and resumed ends with exactly the weights of an
    /// uninterrupted run with the same seed.
    func testKilledAndResumedRunEndsWithTheUninterruptedWeights() throws {
        let data = try writeDataSet(train: 1024, test: 64)
        let common = ["smallcnn", "--data", data, "--epochs", "5", "--batch", "32", "--lr", "0.02", "--augment", "crop=2",
                      "--threads", "1", "--seed", "11"]
        let whole = scratch.appendingPathComponent("whole"), split = scratch.appendingPathComponent("split")
        let uninterrupted = try run(["train"] + common + ["--out", whole.path])
        XCTAssertEqual(uninterrupted.status, 0, uninterrupted.output)

        let (victim, pipe) = try process(["train"] + common + ["--out", split.path])
        let last = split.appendingPathComponent("last.safetensors")
        let deadline = Date().addingTimeInterval(300)
        while !FileManager.default.fileExists(atPath: last.path) && victim.isRunning && Date() < deadline { usleep(2000) }
        kill(victim.processIdentifier, SIGKILL)
        _ = pipe.fileHandleForReading.readDataToEndOfFile()
        victim.waitUntilExit()
        XCTAssertEqual(victim.terminationReason, .uncaughtSignal, "the run finished before it could be killed")

        let resumed = try run(["train", "--resume", split.path])
        XCTAssertEqual(resumed.status, 0, resumed.output)
        XCTAssertTrue(resumed.output.contains("resuming \(split.path) after epoch"), resumed.output)
        XCTAssertFalse(resumed.output.contains("after epoch 5 of 5"), "the kill came too late to test anything:\n\(resumed.output)")

        let a = try tensors(whole.appendingPathComponent("last.safetensors"))
        let b = try tensors(last)
        XCTAssertEqual(Set(a.keys), Set(b.keys))
        XCTAssertFalse(a.isEmpty)
        for (name, bytes) in a { XCTAssertEqual(bytes, b[name], "\(name) differs between the killed-and-resumed run and the whole one") }
        let csvA = try String(contentsOf: whole.appendingPathComponent("metrics.csv"), encoding: .utf8)
        let csvB = try String(contentsOf: split.appendingPathComponent("metrics.csv"), encoding: .utf8)
        // Everything but the timings (epoch seconds, images/s, data wait).
        func losses(_ csv: String) -> [String] { csv.split(separator: "\n").map { $0.split(separator: ",").prefix(6).joined(separator: ",") } }
        XCTAssertEqual(losses(csvA), losses(csvB))

        // pare eval on the best checkpoint: the data set comes from the checkpoint.
        let eval = try run(["eval", whole.appendingPathComponent("best.safetensors").path, "--json"])
        XCTAssertEqual(eval.status, 0, eval.output)
        let report = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(eval.output.utf8)) as? [String: Any], eval.output)
        let result = try XCTUnwrap(report["result"] as? [String: Any])
        XCTAssertEqual(result["samples"] as? Int, 64)
        XCTAssertGreaterThan(result["top1"] as? Double ?? 0, 0.8, eval.output)
        XCTAssertEqual(result["top5"] as? Double, 1, "4 classes: every label is in the top 5")
        XCTAssertEqual((result["confusion"] as? [[Int]])?.flatMap { $0 }.reduce(0, +), 64)
        let text = try run(["eval", whole.appendingPathComponent("last.safetensors").path, "--data", data])
        XCTAssertEqual(text.status, 0, text.output)
        XCTAssertTrue(text.output.contains("top-5") && text.output.contains("confusion matrix"), text.output)
    }

    /// The demo's real path (`make demo` runs it on Fashion-MNIST): train a teacher, compress
    /// it to an int8 student, print the step table and where the report is.
    func testDemoCompressesSmallCNNAndReports() throws {
        let data = try writeDataSet(train: 256, test: 64)
        let out = scratch.appendingPathComponent("demo")
        let (status, output) = try run(["demo", "--data", data, "--epochs", "1", "--batch", "32", "--threads", "1",
                                        "--target", "params=120k", "--out", out.path])
        XCTAssertEqual(status, 0, output)
        for text in ["smallcnn (225,034 parameters)", "== teacher", "== sensitivity", "prune step 2/2", "int8 (minmax)",
                     "target met: at most 120000 parameters", "\(out.path)/report.html"] {
            XCTAssertTrue(output.contains(text), "demo output lacks \(text):\n\(output)")
        }
        for file in ["final.safetensors", "final.onnx", "report.html", "report.json"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: out.appendingPathComponent(file).path), file)
        }
        let misuse = try run(["demo", "--steps", "3"])
        XCTAssertNotEqual(misuse.status, 0)
        XCTAssertTrue(misuse.output.contains("--synthetic"), misuse.output)
    }

    /// An 8-bit RGB PNG filled with one colour.
    func png(width: Int, height: Int, rgb: (UInt8, UInt8, UInt8)) -> Data {
        func big(_ value: UInt32) -> [UInt8] { (0..<4).map { UInt8((value >> (24 - 8 * UInt32($0))) & 0xFF) } }
        func chunk(_ type: String, _ data: [UInt8]) -> [UInt8] {
            let body = Array(type.utf8) + data
            let crc = body.withUnsafeBufferPointer { UInt32(crc32(0, $0.baseAddress, UInt32($0.count))) }
            return big(UInt32(data.count)) + body + big(crc)
        }
        var raw: [UInt8] = []
        for _ in 0..<height {
            raw.append(0)  // filter: none
            for _ in 0..<width { raw += [rgb.0, rgb.1, rgb.2] }
        }
        var size = compressBound(UInt(raw.count))
        var compressed = [UInt8](repeating: 0, count: Int(size))
        XCTAssertEqual(compress(&compressed, &size, raw, UInt(raw.count)), Z_OK)
        var bytes: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
        bytes += chunk("IHDR", big(UInt32(width)) + big(UInt32(height)) + [8, 2, 0, 0, 0])
        bytes += chunk("IDAT", Array(compressed.prefix(Int(size))))
        bytes += chunk("IEND", [])
        return Data(bytes)
    }

    /// `folder:DIR` data: an undecodable image stops the run naming the file unless
    /// --skip-bad-images, which counts it; --image-size sets the input and is remembered by
    /// the checkpoint for `pare eval`.
    func testImageFolderTrainingWithBadImagesAndImageSize() throws {
        let root = scratch.appendingPathComponent("folders")
        for (split, count) in [("train", 12), ("val", 4)] {
            for (name, colour) in [("red", (UInt8(200), UInt8(30), UInt8(30))), ("blue", (UInt8(20), UInt8(40), UInt8(220)))] {
                let folder = root.appendingPathComponent(split).appendingPathComponent(name)
                try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
                for k in 0..<count {
                    try png(width: 40 + k, height: 36, rgb: colour).write(to: folder.appendingPathComponent("\(k).png"))
                }
            }
        }
        let bad = root.appendingPathComponent("train/red/broken.png")
        try Data([0x89, 0x50, 0x4E, 0x47, 1, 2, 3]).write(to: bad)
        let out = scratch.appendingPathComponent("folder-run")
        let arguments = ["train", "smallcnn", "--data", "folder:" + root.path, "--image-size", "28", "--epochs", "1",
                         "--batch", "8", "--out", out.path]
        let refused = try run(arguments)
        XCTAssertNotEqual(refused.status, 0)
        XCTAssertTrue(refused.output.contains(bad.path), refused.output)

        let trained = try run(arguments + ["--skip-bad-images"])
        XCTAssertEqual(trained.status, 0, trained.output)
        XCTAssertTrue(trained.output.contains("skipped 1 undecodable image(s) in the train set"), trained.output)
        XCTAssertTrue(trained.output.contains("24 training images 3x28x28"), trained.output)
        let eval = try run(["eval", out.appendingPathComponent("best.safetensors").path, "--json"])
        XCTAssertEqual(eval.status, 0, eval.output)
        XCTAssertTrue(eval.output.contains("\"samples\" : 8"), eval.output)
    }

    func testTrainHelpDocumentsEveryOption() throws {
        let (status, output) = try run(["train", "--help"])
        XCTAssertEqual(status, 0, output)
        for option in ["--data", "--out", "--resume", "--epochs", "--batch", "--lr", "--momentum", "--nesterov", "--wd",
                       "--optimizer", "--schedule", "--warmup", "--clip-grad-norm", "--augment", "--label-smoothing",
                       "--accumulate", "--threads", "--seed", "--val-fraction", "--normalize", "--log-every", "--json",
                       "--image-size", "--skip-bad-images",
                       "fashion-mnist", "cifar10:DIR", "cosine", "onecycle", "adamw", "crop"] {
            XCTAssertTrue(output.contains(option), "train --help lacks \(option):\n\(output)")
        }
    }

    func testTrainErrorsNameTheProblem() throws {
        let missing = scratch.appendingPathComponent("nowhere").path
        var result = try run(["train", "smallcnn", "--data", "mnist:" + missing, "--out", scratch.appendingPathComponent("r").path])
        XCTAssertNotEqual(result.status, 0)
        XCTAssertTrue(result.output.contains(missing), result.output)

        let data = try writeDataSet(train: 64, test: 16)
        result = try run(["train", "no-such-net", "--data", data, "--out", scratch.appendingPathComponent("r").path])
        XCTAssertNotEqual(result.status, 0)
        XCTAssertTrue(result.output.contains("no-such-net") && result.output.contains("smallcnn"), result.output)

        result = try run(["train", "smallcnn", "--data", data, "--out", scratch.appendingPathComponent("r").path,
                          "--schedule", "sometimes"])
        XCTAssertNotEqual(result.status, 0)
        XCTAssertTrue(result.output.contains("sometimes"), result.output)

        result = try run(["train", "smallcnn", "--data", data])
        XCTAssertNotEqual(result.status, 0)
        XCTAssertTrue(result.output.contains("--out"), result.output)

        result = try run(["train", "--resume", scratch.appendingPathComponent("empty").path])
        XCTAssertNotEqual(result.status, 0)
        XCTAssertTrue(result.output.contains("no checkpoint to resume from"), result.output)

        // A learning rate that blows up stops with a clear message.
        result = try run(["train", "smallcnn", "--data", data, "--out", scratch.appendingPathComponent("nan").path,
                          "--lr", "1e12", "--batch", "16", "--epochs", "2"])
        XCTAssertNotEqual(result.status, 0)
        XCTAssertTrue(result.output.contains("training stopped") && result.output.contains("NaN") || result.output.contains("nan"),
                      result.output)
    }
}
