import Foundation
import PareCore
import PareIO
import XCTest

/// `pare import`, `pare run` and `pare export --safetensors-state-dict`, end to end with the
/// built binary.
final class InteropCommandTests: XCTestCase {
    private func run(_ arguments: [String]) throws -> (status: Int32, output: String) { try runPare(arguments) }

    private var root: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    private var onnxFixtures: URL { root.appendingPathComponent("Tests/PareIOTests/Fixtures/onnx") }
    private var imageFixtures: URL { root.appendingPathComponent("Tests/PareCLITests/Fixtures") }

    private func temporary(_ name: String) -> String {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("pare-cli-\(UUID().uuidString)")
        try? FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: directory) }
        return directory.appendingPathComponent(name).path
    }

    private func tensor(_ path: String, _ name: String) throws -> Tensor {
        try XCTUnwrap(SafetensorsFile.read(from: URL(fileURLWithPath: path)).tensors[name], "\(path) lacks \(name)")
    }

    func testImportONNXThenRunMatchesPyTorch() throws {
        let model = temporary("shufflenet.safetensors")
        let imported = try run(["import", onnxFixtures.appendingPathComponent("shufflenet_v2-dynamo.onnx").path, "--out", model])
        XCTAssertEqual(imported.status, 0, imported.output)
        XCTAssertTrue(imported.output.contains("156 nodes") && imported.output.contains("input 3x32x32"), imported.output)

        let out = temporary("out.safetensors")
        let input = onnxFixtures.appendingPathComponent("shufflenet_v2-dynamo.input.safetensors").path
        let ran = try run(["run", model, "--input", input, "--out", out, "--top", "3"])
        XCTAssertEqual(ran.status, 0, ran.output)
        XCTAssertTrue(ran.output.contains("wrote [2, 10]"), ran.output)
        XCTAssertEqual(ran.output.split(separator: "\n").filter { $0.hasSuffix("%") }.count, 6, ran.output)
        let output = try tensor(out, "output")
        let expected = try tensor(onnxFixtures.appendingPathComponent("shufflenet_v2-dynamo.expected.safetensors").path, "output")
        XCTAssertEqual(output.shape, expected.shape)
        let difference = zip(output.floats, expected.floats).map { abs($0 - $1) }.max() ?? .infinity
        XCTAssertLessThan(difference, 1e-4, "max |pare - torch|")
    }

    func testImportStateDictIntoZooModelAndMismatch() throws {
        let stateDict = onnxFixtures.appendingPathComponent("mobilenet_v2.state_dict.safetensors").path
        let model = temporary("mobilenet.safetensors")
        let ok = try run(["import", stateDict, "--model", "mobilenet_v2", "--width-multiplier", "0.1", "--classes", "10",
                          "--input", "3x32x32", "--out", model])
        XCTAssertEqual(ok.status, 0, ok.output)
        XCTAssertTrue(ok.output.contains("98,890 parameters"), ok.output)

        let wrong = try run(["import", stateDict, "--model", "mobilenet_v2", "--classes", "10", "--input", "3x32x32",
                             "--out", temporary("never.safetensors")])
        XCTAssertNotEqual(wrong.status, 0)
        for text in ["does not match model 'mobilenet_v2'", "shape or dtype mismatches (256)",
                     "features.0.0.weight (expected f32 [32x3x3x3], found f32 [8x3x3x3])", "(and 216 more)", "hint: check --classes"] {
            XCTAssertTrue(wrong.output.contains(text), "missing \(text):\n\(wrong.output)")
        }
        let noModel = try run(["import", stateDict, "--out", temporary("never.safetensors")])
        XCTAssertNotEqual(noModel.status, 0)
        XCTAssertTrue(noModel.output.contains("--model NAME"), noModel.output)
    }

    func testImportOfCorruptONNXIsAClearError() throws {
        let data = try Data(contentsOf: onnxFixtures.appendingPathComponent("resnet18-ts.onnx"))
        let truncated = temporary("truncated.onnx")
        try data.prefix(data.count / 3).write(to: URL(fileURLWithPath: truncated))
        let result = try run(["import", truncated, "--out", temporary("never.safetensors")])
        XCTAssertNotEqual(result.status, 0)
        XCTAssertTrue(result.output.contains("\(truncated): not a readable ONNX model"), result.output)
    }

    /// The file from the bug report: a native model whose architecture JSON gives a
    /// convolution dilation 2^62 made `pare summary` die of an overflow trap.
    func testSummaryOfACraftedModelFileIsAClearError() throws {
        var graph = Graph(nodes: [Node(name: "input", op: .input(shape: [3, 8, 8]), inputs: []),
                                  Node(name: "conv", op: .conv2d(Conv2dAttributes(outChannels: 4, kernelSize: [3, 3])), inputs: [0])],
                          outputs: [1])
        try graph.initializeParameters(seed: 1)
        let path = temporary("crafted.safetensors")
        var file = try ModelFile.encode(graph)
        let json = try XCTUnwrap(file.metadata[ModelFile.graphKey])
        XCTAssertTrue(json.contains(#""dilation":[1,1]"#), json)
        file.metadata[ModelFile.graphKey] = json.replacingOccurrences(of: #""dilation":[1,1]"#,
                                                                    with: #""dilation":[4611686018427387904,1]"#)
        try file.write(to: URL(fileURLWithPath: path))
        let result = try run(["summary", path])
        XCTAssertEqual(result.status, 1, "an error, not a trap: \(result.output)")
        for part in [path, "node #1 'conv' (conv2d)", "kernel extent", "overflows"] {
            XCTAssertTrue(result.output.contains(part), "missing '\(part)' in: \(result.output)")
        }
    }

    func testExportStateDictNamesEveryParameter() throws {
        let out = temporary("smallcnn.state_dict.safetensors")
        let result = try run(["export", "smallcnn", "--safetensors-state-dict", out])
        XCTAssertEqual(result.status, 0, result.output)
        let file = try SafetensorsFile.read(from: URL(fileURLWithPath: out))
        XCTAssertEqual(file.metadata, ["format": "pt"])
        XCTAssertEqual(file.tensors.keys.sorted(), ["conv1.bias", "conv1.weight", "conv2.bias", "conv2.weight", "fc1.bias",
                                                   "fc1.weight", "fc2.bias", "fc2.weight"])
        let nothing = try run(["export", "smallcnn"])
        XCTAssertNotEqual(nothing.status, 0)
        XCTAssertTrue(nothing.output.contains("nothing to write"), nothing.output)
    }

    func testRunOnImagesIsSeededAndUsesThePreprocessing() throws {
        let png = imageFixtures.appendingPathComponent("pattern-40x24.png").path
        let jpeg = imageFixtures.appendingPathComponent("pattern-40x24.jpg").path
        let first = temporary("a.safetensors"), second = temporary("b.safetensors"), third = temporary("c.safetensors")
        let a = try run(["run", "resnet20", "--input", png, "--input", jpeg, "--out", first])
        XCTAssertEqual(a.status, 0, a.output)
        XCTAssertTrue(a.output.contains("preprocessing: resize=32x32 mean=0.4914,0.4822,0.4465 std=0.247,0.2435,0.2616"), a.output)
        XCTAssertTrue(a.output.contains("\(png):") && a.output.contains("\(jpeg):"), a.output)
        XCTAssertEqual(a.output.split(separator: "\n").filter { $0.hasSuffix("%") }.count, 10, a.output)
        let b = try run(["run", "resnet20", "--input", png, "--input", jpeg, "--out", second])
        XCTAssertEqual(b.status, 0, b.output)
        XCTAssertEqual(try tensor(first, "output").scalars, try tensor(second, "output").scalars, "same seed, same output")
        let c = try run(["run", "resnet20", "--input", png, "--input", jpeg, "--out", third, "--seed", "1",
                         "--preprocess", "resize=32x32 normalize=imagenet"])
        XCTAssertEqual(c.status, 0, c.output)
        XCTAssertNotEqual(try tensor(first, "output").scalars, try tensor(third, "output").scalars)

        // A one-channel model gets grey images; an imported model keeps its preprocessing and labels.
        let grey = try run(["run", "smallcnn", "--input", png, "--out", temporary("grey.safetensors"), "--top", "2"])
        XCTAssertEqual(grey.status, 0, grey.output)
        XCTAssertTrue(grey.output.contains("preprocessing: resize=28x28 mean=0.286 std=0.353"), grey.output)

        let labels = temporary("labels.txt")
        try (0..<10).map { "class \($0)" }.joined(separator: "\n").write(toFile: labels, atomically: true, encoding: .utf8)
        let model = temporary("labelled.safetensors")
        let imported = try run(["import", onnxFixtures.appendingPathComponent("resnet18-ts.onnx").path, "--out", model,
                                "--labels", labels, "--preprocess", "resize=36 crop=32 normalize=cifar10"])
        XCTAssertEqual(imported.status, 0, imported.output)
        let labelled = try run(["run", model, "--input", png, "--out", temporary("labelled-out.safetensors"), "--top", "1"])
        XCTAssertEqual(labelled.status, 0, labelled.output)
        XCTAssertTrue(labelled.output.contains("preprocessing: resize=36 crop=32"), labelled.output)
        XCTAssertTrue(labelled.output.contains("%  class "), labelled.output)
    }

    func testRunExplainsBadInputs() throws {
        let cases: [([String], String)] = [
            (["run", "smallcnn", "--out", "/tmp/never.safetensors"], "give --input"),
            (["run", "smallcnn", "--input", onnxFixtures.appendingPathComponent("resnet18-ts.expected.safetensors").path,
              "--out", "/tmp/never.safetensors"], "has no tensor named `input`"),
            (["run", "smallcnn", "--input", "/no/such/image.png", "--out", "/tmp/never.safetensors"], "/no/such/image.png"),
            (["run", "smallcnn", "--input", "x.png", "--out", "/tmp/never.safetensors", "--preprocess", "resize=0"],
             "is not a positive integer"),
        ]
        for (arguments, message) in cases {
            let result = try run(arguments)
            XCTAssertNotEqual(result.status, 0, arguments.joined(separator: " "))
            XCTAssertTrue(result.output.contains(message), "expected '\(message)' in:\n\(result.output)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: "/tmp/never.safetensors"))
    }

    /// With a Python that has torch and torchvision ($PARE_PYTHON, else python3): the state
    /// dict `pare export` writes for the zoo's resnet18 (and mobilenet_v3_small/large,
    /// efficientnet_b0) loads into torchvision's model with strict key checking and gives
    /// Pare's outputs (scripts/check-state-dict.py).
    func testExportedStateDictLoadsIntoTorchvision() throws {
        let configured = ProcessInfo.processInfo.environment["PARE_PYTHON"] ?? ""
        let python = configured.isEmpty ? "python3" : configured
        let script = root.appendingPathComponent("scripts/check-state-dict.py").path
        let probe = try runProcess(python, ["-c", "import sys, types; sys.modules.setdefault('torchvision._meta_registrations', "
                                           + "types.ModuleType('m')); import torch, torchvision, safetensors"])
        guard probe.status == 0 else {
            throw XCTSkip("torchvision state-dict check skipped: \(python) cannot import torch, torchvision and safetensors")
        }
        // The zoo's resnet18 at a 64x64 input (same weights as at 224) and the imported
        // mobilenet_v2 fixture, exported again.
        let input = temporary("input.safetensors")
        var generator = SeededGenerator(seed: 3)
        let x = Tensor(zeros: [2, 3, 64, 64])
        for i in 0..<x.elementCount { x.floats[i] = generator.nextNormal() }
        try SafetensorsFile(tensors: ["input": x]).write(to: URL(fileURLWithPath: input))
        let stateDict = temporary("resnet18.state_dict.safetensors"), output = temporary("resnet18.out.safetensors")
        XCTAssertEqual(try run(["export", "resnet18", "--safetensors-state-dict", stateDict]).status, 0)
        XCTAssertEqual(try run(["run", "resnet18", "--input", input, "--out", output, "--top", "0"]).status, 0)
        let check = try runProcess(python, [script, "resnet18", stateDict, input, output])
        print(check.output)
        XCTAssertEqual(check.status, 0, check.output)
        // The mobile models with squeeze-and-excitation, at the same 64x64 input.
        for name in ["mobilenet_v3_small", "mobilenet_v3_large", "efficientnet_b0"] {
            let state = temporary("\(name).state_dict.safetensors"), out = temporary("\(name).out.safetensors")
            XCTAssertEqual(try run(["export", name, "--safetensors-state-dict", state]).status, 0, name)
            XCTAssertEqual(try run(["run", name, "--input", input, "--out", out, "--top", "0"]).status, 0, name)
            let result = try runProcess(python, [script, name, state, input, out])
            print(result.output)
            XCTAssertEqual(result.status, 0, result.output)
        }

        let model = temporary("mobilenet.safetensors"), small = temporary("input32.safetensors")
        let mobileState = temporary("mobilenet.state_dict.safetensors"), mobileOutput = temporary("mobilenet.out.safetensors")
        XCTAssertEqual(try run(["import", onnxFixtures.appendingPathComponent("mobilenet_v2.state_dict.safetensors").path,
                                "--model", "mobilenet_v2", "--width-multiplier", "0.1", "--classes", "10", "--input", "3x32x32",
                                "--out", model]).status, 0)
        let fixtureInput = onnxFixtures.appendingPathComponent("mobilenet_v2-ts.input.safetensors")
        try FileManager.default.copyItem(atPath: fixtureInput.path, toPath: small)
        XCTAssertEqual(try run(["export", model, "--safetensors-state-dict", mobileState]).status, 0)
        XCTAssertEqual(try run(["run", model, "--input", small, "--out", mobileOutput, "--top", "0"]).status, 0)
        let mobile = try runProcess(python, [script, "mobilenet_v2:width_mult=0.1,num_classes=10", mobileState, small, mobileOutput])
        print(mobile.output)
        XCTAssertEqual(mobile.status, 0, mobile.output)
    }
}
