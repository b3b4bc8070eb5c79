import Foundation
import PareCore
import PareIO
import PareModels
import XCTest

/// Imports the ONNX files `scripts/make-onnx-fixtures.py` exported from torchvision's
/// resnet18, mobilenet_v2, shufflenet_v2, mobilenet_v3_small/large and efficientnet_b0 classes (width-reduced, random weights, random
/// batch-norm statistics; TorchScript and dynamo exporters) and checks that Pare, running
/// the imported graph with the DNNL executor in evaluation mode, reproduces PyTorch's
/// outputs; and loads the torchvision state dict fixture into the zoo's mobilenet_v2.
final class ONNXImportFixtureTests: XCTestCase {
    /// Every fixture the script writes: model, exporter (and variant).
    static let fixtures = ["resnet18-ts", "mobilenet_v2-ts", "shufflenet_v2-ts", "shufflenet_v2-ts-nofold",
                           "resnet18-dynamo", "shufflenet_v2-dynamo", "mobilenet_v3_small-ts-nofold",
                           "mobilenet_v3_large-ts-nofold", "efficientnet_b0-ts-nofold", "efficientnet_b0-ts", "classic-ts"]
    /// `|pare - torch| <= atol + rtol * max|torch|` for every element: float32 summation
    /// order differs between oneDNN and PyTorch; the measured worst is about 1e-6 of the scale.
    static let atol: Float = 1e-5
    static let rtol: Float = 1e-4

    static var directory: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/onnx")
    }

    private func tensor(_ file: String, _ name: String) throws -> Tensor {
        let tensors = try SafetensorsFile.read(from: Self.directory.appendingPathComponent(file)).tensors
        return try XCTUnwrap(tensors[name], "\(file) has no tensor \(name)")
    }

    /// Runs `graph` on the fixture's input and compares with PyTorch's output; returns the
    /// max absolute difference.
    @discardableResult
    private func assertMatchesPyTorch(_ graph: Graph, fixture: String, label: String) throws -> Float {
        let input = try tensor("\(fixture).input.safetensors", "input")
        let expected = try tensor("\(fixture).expected.safetensors", "output")
        let executor = try DNNLExecutor(graph: graph, batchSize: input.shape[0], mode: .inference)
        let output = try executor.forward([input])[0]
        XCTAssertEqual(output.shape, expected.shape, label)
        guard output.shape == expected.shape else { return .infinity }
        let scale = expected.floats.map(abs).max() ?? 0
        var worst = (index: 0, difference: Float(0))
        for i in 0..<expected.elementCount {
            let difference = abs(output.floats[i] - expected.floats[i])
            if !(difference <= worst.difference) { worst = (i, difference) }
        }
        print(String(format: "%@: max|pare - torch| %.3g (output scale %.3g), worst at %d: pare %.7g, torch %.7g",
                     label, worst.difference, scale, worst.index, output.floats[worst.index], expected.floats[worst.index]))
        // The file itself, as onnxruntime ran it, to 1e-4 of the output's scale.
        let runtime = try tensor("\(fixture).expected.safetensors", "onnxruntime")
        let runtimeWorst = zip(output.floats, runtime.floats).map { abs($0 - $1) }.max() ?? 0
        XCTAssertLessThanOrEqual(runtimeWorst, 1e-4 * max(scale, 1), "\(label): max|pare - onnxruntime| \(runtimeWorst)")
        XCTAssertLessThanOrEqual(worst.difference, Self.atol + Self.rtol * scale,
                                 "\(label): worst element \(worst.index): pare \(output.floats[worst.index]), "
                                 + "torch \(expected.floats[worst.index])")
        return worst.difference
    }

    func testTorchExportsImportAndMatchPyTorch() throws {
        for fixture in Self.fixtures {
            let graph = try ONNXImport.read(from: Self.directory.appendingPathComponent("\(fixture).onnx"))
            try assertMatchesPyTorch(graph, fixture: fixture, label: fixture)
        }
    }

    func testImportedGraphsKeepTorchvisionNamesAndStructure() throws {
        func load(_ fixture: String) throws -> Graph {
            try ONNXImport.read(from: Self.directory.appendingPathComponent("\(fixture).onnx"))
        }
        func count(_ graph: Graph, _ kind: String) -> Int { graph.nodes.filter { $0.op.kind == kind }.count }

        // Dynamo: initializers carry state-dict names (the exporter folded batch norm into
        // the convolutions, which therefore have a bias).
        let dynamo = try load("resnet18-dynamo")
        for name in ["conv1.weight", "conv1.bias", "layer1.0.conv1.weight", "layer4.1.conv2.weight", "fc.weight", "fc.bias"] {
            XCTAssertNotNil(dynamo.parameters[name], "resnet18-dynamo lacks \(name)")
        }
        // TorchScript with constant folding: initializers are `onnx::Conv_NNN`; the module path
        // comes from the node names (/layer1/layer1.0/conv1/Conv).
        let folded = try load("resnet18-ts")
        XCTAssertEqual(Set(folded.parameters.keys), Set(dynamo.parameters.keys))
        XCTAssertEqual(count(folded, "conv2d"), 20)
        XCTAssertEqual(count(folded, "add"), 8)
        XCTAssertEqual(count(folded, "batchNorm"), 0)

        // Without constant folding the batch norms stay, under torchvision's names, and the
        // parameter count is PyTorch's.
        let shuffle = try load("shufflenet_v2-ts-nofold")
        XCTAssertEqual(try shuffle.trainableParameterCount(), 29_162)
        for name in ["conv1.1.running_mean", "stage2.0.branch1.1.weight", "stage4.3.branch2.6.running_var", "conv5.1.num_batches_tracked"] {
            XCTAssertNotNil(shuffle.parameters[name], "shufflenet_v2-ts-nofold lacks \(name)")
        }
        // 16 units, each ending in a channel shuffle; 13 stride-1 units split their input.
        for fixture in ["shufflenet_v2-ts", "shufflenet_v2-ts-nofold", "shufflenet_v2-dynamo"] {
            let graph = try load(fixture)
            XCTAssertEqual(count(graph, "channelShuffle"), 16, fixture)
            XCTAssertEqual(count(graph, "channelSlice"), 26, fixture)
            XCTAssertEqual(count(graph, "concat"), 16, fixture)
            XCTAssertEqual(count(graph, "globalAvgPool"), 1, fixture)
        }
        let mobile = try load("mobilenet_v2-ts")
        XCTAssertEqual(count(mobile, "relu6"), 35)
        // Ten residual blocks, and at width 0.1 the first block too (8 -> 8 channels, stride 1).
        XCTAssertEqual(count(mobile, "add"), 11)
        XCTAssertNotNil(mobile.parameters["classifier.1.weight"])
    }

    /// An imported model is an ordinary graph: it saves and reloads as a native file, and
    /// trains (a training-mode forward and backward run and give every weight a gradient).
    func testImportedModelSavesAndTrains() throws {
        let graph = try ONNXImport.read(from: Self.directory.appendingPathComponent("shufflenet_v2-ts-nofold.onnx"))
        let file = try temporaryDirectory(self).appendingPathComponent("imported.safetensors")
        try ModelFile.save(graph, to: file)
        let reloaded = try ModelFile.load(from: file)
        XCTAssertEqual(reloaded.nodes, graph.nodes)
        try assertMatchesPyTorch(reloaded, fixture: "shufflenet_v2-ts-nofold", label: "reloaded shufflenet_v2-ts-nofold")

        let input = try tensor("shufflenet_v2-ts-nofold.input.safetensors", "input")
        let trainer = try DNNLExecutor(graph: reloaded, batchSize: input.shape[0], mode: .training)
        let output = try trainer.forward([input])[0]
        try trainer.backward([Tensor(repeating: 1, shape: output.shape)])
        let trainable = try reloaded.trainableParameterNames()
        XCTAssertEqual(Set(trainer.parameterGradients.keys), Set(trainable))
        XCTAssertTrue(trainer.parameterGradients["fc.weight"]!.floats.contains { $0 != 0 })
    }

    /// torch.onnx's forms of the other layers become Pare's ops: ReflectionPad2d and
    /// ReplicationPad2d (pads computed by ConstantOfShape/Slice/Transpose chains) are `pad`,
    /// SiLU's x * Sigmoid(x) is `silu`, the Linear gate's view is `unflatten`.
    func testClassicLayersImportAsPareOps() throws {
        let graph = try ONNXImport.read(from: Self.directory.appendingPathComponent("classic-ts.onnx"))
        let ops = graph.nodes.map(\.op)
        for expected: Op in [.pad(PadAttributes(padding: Padding2d(top: 0, left: 1, bottom: 1, right: 2), mode: .reflect)),
                             .pad(PadAttributes(padding: Padding2d(1), mode: .replicate)), .prelu(perChannel: true),
                             .prelu(perChannel: false), .leakyRelu(negativeSlope: 0.1), .elu(alpha: 0.7), .tanh, .silu,
                             .hardSigmoid, .unflatten, .mul, .sigmoid] {
            XCTAssertTrue(ops.contains(expected), "classic-ts lacks \(expected): \(ops.map(\.kind))")
        }
        XCTAssertEqual(graph.parameters["4.weight"]?.shape, [12], "the per-channel PReLU keeps its state-dict name and shape")
    }

    // MARK: torchvision's mobile models

    /// The zoo's mobilenet_v3_small/large and efficientnet_b0 have torchvision's state dicts
    /// at full size: every key, in order, with its shape (`Fixtures/torchvision/NAME.state_dict.txt`,
    /// one `key [shape]` per line, from `torchvision.models.NAME().state_dict()`).
    func testMobileZooModelsHaveTorchvisionsStateDicts() throws {
        let folder = Self.directory.deletingLastPathComponent().appendingPathComponent("torchvision")
        for name in ["mobilenet_v3_small", "mobilenet_v3_large", "efficientnet_b0"] {
            let text = try String(contentsOf: folder.appendingPathComponent("\(name).state_dict.txt"), encoding: .utf8)
            let expected = text.split(separator: "\n").map(String.init)
            let graph = try Zoo.build(name, options: ZooOptions(withParameters: false))
            let actual = try graph.parameterSpecs().map { "\($0.name) [\($0.spec.shape.dimensions.map(String.init).joined(separator: ","))]" }
            XCTAssertEqual(actual.count, expected.count, name)
            for (k, (a, e)) in zip(actual, expected).enumerated() where a != e {
                XCTFail("\(name) state-dict entry \(k): Pare '\(a)', torchvision '\(e)'")
                break
            }
        }
    }

    /// The zoo's builders at the fixtures' reduced sizes, with the weights of the fixtures
    /// exported without constant folding (whose initializers keep the state-dict names),
    /// reproduce PyTorch's outputs: same keys, same shapes, same computation.
    func testMobileZooModelsRunTheFixturesWeights() throws {
        let reduced: [(fixture: String, graph: Graph)] = [
            ("mobilenet_v3_small-ts-nofold", try mobileNetV3(.small, widthMultiplier: 0.1, input: [3, 48, 48], classes: 10,
                                                             withParameters: false)),
            ("mobilenet_v3_large-ts-nofold", try mobileNetV3(.large, widthMultiplier: 0.1, input: [3, 48, 48], classes: 10,
                                                             withParameters: false)),
            ("efficientnet_b0-ts-nofold", try efficientNet(widthMultiplier: 0.1, depthMultiplier: 0.5, input: [3, 48, 48],
                                                           classes: 10, withParameters: false)),
        ]
        for (fixture, zoo) in reduced {
            let imported = try ONNXImport.read(from: Self.directory.appendingPathComponent("\(fixture).onnx"))
            XCTAssertEqual(Set(imported.parameters.keys), Set(try zoo.parameterSpecs().map(\.name)), fixture)
            let loaded = try StateDict.load(imported.parameters, into: zoo, source: fixture)
            try assertMatchesPyTorch(loaded, fixture: fixture, label: "zoo model with \(fixture)'s weights")
            XCTAssertEqual(loaded.nodes.filter { $0.op == .mul }.count, imported.nodes.filter { $0.op == .mul }.count, fixture)
        }
    }

    // MARK: State dicts

    private func zooMobileNet() throws -> Graph {
        try Zoo.build("mobilenet_v2", options: ZooOptions(classes: 10, input: [3, 32, 32], widthMultiplier: 0.1,
                                                          withParameters: false))
    }

    private var stateDictURL: URL { Self.directory.appendingPathComponent("mobilenet_v2.state_dict.safetensors") }

    func testTorchvisionStateDictLoadsIntoZooModel() throws {
        let graph = try StateDict.load(from: stateDictURL, into: try zooMobileNet())
        XCTAssertEqual(graph.parameters["features.1.conv.2.num_batches_tracked"]?.dtype, .i64)
        // The same weights as the mobilenet_v2-ts fixture, so its PyTorch output applies.
        try assertMatchesPyTorch(graph, fixture: "mobilenet_v2-ts", label: "mobilenet_v2 state dict in the zoo model")
    }

    func testStateDictMismatchListsEveryDifferingKey() throws {
        var tensors = try SafetensorsFile.read(from: stateDictURL).tensors
        tensors["features.0.0.weight"] = nil
        tensors["extra.weight"] = Tensor(zeros: [3])
        tensors["classifier.1.bias"] = Tensor(zeros: [11])
        XCTAssertThrowsError(try StateDict.load(tensors, into: try zooMobileNet(), source: "sd.safetensors")) { error in
            guard let error = error as? StateDictError else { return XCTFail("\(error)") }
            XCTAssertEqual(error.missing, ["features.0.0.weight"])
            XCTAssertEqual(error.unexpected, ["extra.weight"])
            XCTAssertEqual(error.wrongShape.map(\.name), ["classifier.1.bias"])
            let text = error.description
            for part in ["sd.safetensors", "model 'mobilenet_v2'", "missing keys (1): features.0.0.weight",
                         "unexpected keys (1): extra.weight", "classifier.1.bias (expected f32 [10], found f32 [11])"] {
                XCTAssertTrue(text.contains(part), "missing '\(part)' in:\n\(text)")
            }
        }

        // A DataParallel-style prefix gets a hint.
        let original = try SafetensorsFile.read(from: stateDictURL).tensors
        let prefixed = Dictionary(uniqueKeysWithValues: original.map { ("module." + $0.key, $0.value) })
        XCTAssertThrowsError(try StateDict.load(prefixed, into: try zooMobileNet())) { error in
            XCTAssertTrue("\(error)".contains("start with 'module.'"), "\(error)")
        }
    }

    func testStateDictWithoutBatchCountsLoads() throws {
        let tensors = try SafetensorsFile.read(from: stateDictURL).tensors.filter { !$0.key.hasSuffix("num_batches_tracked") }
        let graph = try StateDict.load(tensors, into: try zooMobileNet())
        let count = try XCTUnwrap(graph.parameters["features.0.1.num_batches_tracked"])
        XCTAssertEqual(count.dtype, .i64)
        XCTAssertEqual(count.storage.pointer.load(as: Int64.self), 0)
    }

    func testStateDictWriteRoundTrips() throws {
        let graph = try StateDict.load(from: stateDictURL, into: try zooMobileNet())
        let file = try temporaryDirectory(self).appendingPathComponent("out.safetensors")
        try StateDict.write(graph, to: file)
        let written = try SafetensorsFile.read(from: file)
        XCTAssertEqual(written.metadata, ["format": "pt"])
        assertBitIdentical(written.tensors, try SafetensorsFile.read(from: stateDictURL).tensors)
    }
}
