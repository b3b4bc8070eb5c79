import Foundation
import PareCore
import PareIO
import XCTest

final class ModelFileTests: XCTestCase {
    /// Channel counts no zoo model has (as after pruning), a depthwise conv and a
    /// non-square input: conv 3->13, bn, relu, depthwise 13 (groups 13), conv 13->7, flatten,
    /// linear 7*6*5 -> 5.
    func oddGraph() throws -> Graph {
        let nodes = [
            Node(name: "input", op: .input(shape: [3, 6, 5]), inputs: []),
            Node(name: "features.0", op: .conv2d(Conv2dAttributes(outChannels: 13, kernelSize: [3, 3], padding: Padding2d(1))), inputs: [0]),
            Node(name: "features.1", op: .batchNorm(BatchNormAttributes(eps: 1e-3, momentum: 0.01)), inputs: [1]),
            Node(name: "features.2", op: .relu, inputs: [2]),
            Node(name: "features.3", op: .conv2d(Conv2dAttributes(outChannels: 13, kernelSize: [3, 3], stride: [1, 1],
                                                                  padding: Padding2d(top: 1, left: 2, bottom: 1, right: 0),
                                                                  groups: 13, bias: true)), inputs: [3]),
            Node(name: "features.4", op: .conv2d(Conv2dAttributes(outChannels: 7, kernelSize: [1, 1], bias: true)), inputs: [4]),
            Node(name: "flatten", op: .flatten, inputs: [5]),
            Node(name: "classifier", op: .linear(LinearAttributes(outFeatures: 5)), inputs: [6]),
        ]
        var graph = Graph(nodes: nodes, outputs: [7],
                          metadata: ["source": "ModelFileTests", "prune.ratio": "0.37", "odd": "quote\" slash/ newline\n ü"])
        try graph.initializeParameters(seed: 42)
        // Make the batch-norm state and biases something other than their initial values.
        var generator = SeededGenerator(seed: 7)
        for name in ["features.1.weight", "features.1.bias", "features.1.running_mean", "features.1.running_var",
                     "features.3.bias", "features.4.bias", "classifier.bias"] {
            let values = graph.parameters[name]!.floats
            for i in values.indices { values[i] = generator.nextNormal() }
        }
        graph.parameters["features.1.num_batches_tracked"]!.storage.pointer.storeBytes(of: Int64(12345), as: Int64.self)
        try graph.validate()
        return graph
    }

    func testNonStandardGraphRoundTripsExactly() throws {
        let directory = try temporaryDirectory(self)
        let url = directory.appendingPathComponent("odd.safetensors")
        let graph = try oddGraph()
        try ModelFile.save(graph, to: url)
        let loaded = try ModelFile.load(from: url)

        XCTAssertEqual(loaded.nodes, graph.nodes)
        XCTAssertEqual(loaded.outputs, graph.outputs)
        XCTAssertEqual(loaded.metadata, graph.metadata)
        assertBitIdentical(loaded.parameters, graph.parameters)
        XCTAssertEqual(loaded.parameters["features.3.weight"]?.shape, [13, 1, 3, 3])
        XCTAssertEqual(loaded.parameters["classifier.weight"]?.shape, [5, 210])

        // Saving the loaded graph reproduces the file byte for byte.
        let again = directory.appendingPathComponent("again.safetensors")
        try ModelFile.save(loaded, to: again)
        XCTAssertEqual(try Data(contentsOf: again), try Data(contentsOf: url))
    }

    /// Every op (``everyOpGraph()``: the activations with attributes, PReLU's slopes, the
    /// gate product) survives the native file.
    func testEveryOpGraphRoundTripsExactly() throws {
        let url = try temporaryDirectory(self).appendingPathComponent("every-op.safetensors")
        let graph = try everyOpGraph(seed: 4)
        try ModelFile.save(graph, to: url)
        let loaded = try ModelFile.load(from: url)
        XCTAssertEqual(loaded.nodes, graph.nodes)
        assertBitIdentical(loaded.parameters, graph.parameters)
        XCTAssertTrue(loaded.nodes.contains { $0.op == .leakyRelu(negativeSlope: 0.05) })
        XCTAssertTrue(loaded.nodes.contains { $0.op == .prelu(perChannel: false) })
    }

    func testFileIsPlainSafetensorsWithPareMetadata() throws {
        let graph = try oddGraph()
        let file = try SafetensorsFile.decode(ModelFile.encode(graph).encoded())
        XCTAssertEqual(Set(file.tensors.keys), Set(graph.parameters.keys))
        XCTAssertEqual(file.metadata[ModelFile.formatKey], "1")
        XCTAssertEqual(file.metadata["pare.meta.source"], "ModelFileTests")
        let architecture = try XCTUnwrap(file.metadata[ModelFile.graphKey])
        XCTAssertTrue(architecture.hasPrefix(#"{"nodes":[{"attributes":{"shape":[3,6,5]},"inputs":[],"name":"input","op":"input"},"#), architecture)
        XCTAssertEqual(Set(file.metadata.keys),
                       ["pare.format", "pare.graph", "pare.meta.source", "pare.meta.prune.ratio", "pare.meta.odd"])
    }

    func testPlainStateDictExplainsHowToImport() throws {
        let url = try temporaryDirectory(self).appendingPathComponent("resnet18.safetensors")
        try SafetensorsFile(tensors: ["conv1.weight": Tensor(zeros: [64, 3, 7, 7])], metadata: ["format": "pt"]).write(to: url)
        XCTAssertThrowsError(try ModelFile.load(from: url)) { error in
            XCTAssertEqual(error as? ModelFileError, ModelFileError(file: url.path, problem: .plainStateDict(tensorCount: 1)))
            XCTAssertTrue("\(error)".hasPrefix(url.path + ": a plain state dict"), "\(error)")
            XCTAssertTrue("\(error)".contains("pare import \(url.path) --model NAME"), "\(error)")
        }
    }

    func testMissingUnexpectedAndMisshapedTensorsAreAllNamed() throws {
        var file = try ModelFile.encode(oddGraph())
        file.tensors["classifier.bias"] = nil
        file.tensors["features.1.running_var"] = nil
        file.tensors["stray.weight"] = Tensor(zeros: [1])
        file.tensors["features.4.weight"] = Tensor(zeros: [7, 12, 1, 1])
        file.tensors["features.1.num_batches_tracked"] = Tensor(zeros: [])
        XCTAssertThrowsError(try ModelFile.decode(file, source: "odd.safetensors")) { error in
            let expected = ModelFileError.Problem.parametersMismatch(
                missing: ["features.1.running_var", "classifier.bias"],
                unexpected: ["stray.weight"],
                wrongShape: [
                    .init(name: "features.1.num_batches_tracked", expected: "i64 []", found: "f32 []"),
                    .init(name: "features.4.weight", expected: "f32 [7x13x1x1]", found: "f32 [7x12x1x1]"),
                ])
            XCTAssertEqual((error as? ModelFileError)?.problem, expected)
            XCTAssertEqual("\(error)", "odd.safetensors: tensors do not match the architecture: "
                + "missing features.1.running_var, classifier.bias; unexpected stray.weight; wrong shape or dtype "
                + "features.1.num_batches_tracked (expected i64 [], found f32 []), "
                + "features.4.weight (expected f32 [7x13x1x1], found f32 [7x12x1x1])")
        }
    }

    func testUnsupportedFormatVersion() throws {
        var file = try ModelFile.encode(oddGraph())
        file.metadata["pare.format"] = "2"
        XCTAssertThrowsError(try ModelFile.decode(file, source: "m")) { error in
            XCTAssertEqual(error as? ModelFileError, ModelFileError(file: "m", problem: .unsupportedFormat(found: "2")))
        }
        file.metadata["pare.format"] = nil
        XCTAssertThrowsError(try ModelFile.decode(file, source: "m")) { error in
            XCTAssertEqual(error as? ModelFileError, ModelFileError(file: "m", problem: .unsupportedFormat(found: nil)))
        }
    }

    func testInvalidArchitectureJSON() throws {
        var file = try ModelFile.encode(oddGraph())
        for json in ["not json", #"{"nodes":[]}"#, #"{"nodes":[{"name":"x","op":"warp","inputs":[]}],"outputs":[0]}"#] {
            file.metadata["pare.graph"] = json
            XCTAssertThrowsError(try ModelFile.decode(file, source: "m")) { error in
                guard case .invalidArchitecture = (error as? ModelFileError)?.problem else {
                    return XCTFail("\(json): unexpected \(error)")
                }
            }
        }
    }

    func testInvalidGraphIsReported() throws {
        var file = try ModelFile.encode(oddGraph())
        let json = file.metadata["pare.graph"]!
        file.metadata["pare.graph"] = json.replacingOccurrences(of: #""outputs":[7]"#, with: #""outputs":[9]"#)
        XCTAssertThrowsError(try ModelFile.decode(file, source: "m")) { error in
            XCTAssertEqual((error as? ModelFileError)?.problem,
                           .invalidGraph(.invalidGraph("output 9 is not a node (graph has 8)")))
        }
    }

    /// Architecture JSON as a crafted file gives it: a dilation whose kernel extent overflows
    /// (it trapped in shape inference), negative padding (it surfaced as a weight-shape
    /// mismatch): errors naming the file, the node and the field.
    func testCraftedAttributesAreErrorsNamingNodeAndField() throws {
        let url = try temporaryDirectory(self).appendingPathComponent("crafted.safetensors")
        let cases = [
            (#""dilation":[1,1]"#, #""dilation":[4611686018427387904,1]"#, "kernel extent dilation·(kernel−1)+1"),
            (#""padding":{"bottom":1,"left":1,"right":1,"top":1}"#, #""padding":{"bottom":1,"left":1,"right":1,"top":-3}"#,
             "top -3, left 1, bottom 1, right 1] must be non-negative"),
            (#""kernelSize":[3,3]"#, #""kernelSize":[3,-9223372036854775807]"#, "kernelSize [3, -9223372036854775807] must be positive"),
        ]
        for (original, crafted, reason) in cases {
            var file = try ModelFile.encode(oddGraph())
            let json = try XCTUnwrap(file.metadata[ModelFile.graphKey])
            let range = try XCTUnwrap(json.range(of: original), "no \(original) in \(json)")
            file.metadata[ModelFile.graphKey] = json.replacingCharacters(in: range, with: crafted)
            try file.write(to: url)
            XCTAssertThrowsError(try ModelFile.load(from: url)) { error in
                guard let error = error as? ModelFileError, case let .invalidGraph(graphError) = error.problem,
                      case let .invalidNode(index, node, op, _) = graphError else {
                    return XCTFail("\(crafted): not an invalid-node error: \(error)")
                }
                XCTAssertEqual(error.file, url.path)
                XCTAssertEqual([String(index), node, op], ["1", "features.0", "conv2d"], "\(error)")
                XCTAssertTrue(error.description.contains(reason), "missing '\(reason)' in: \(error)")
            }
        }
    }

    func testSavingAGraphWithoutWeightsFails() throws {
        var graph = try oddGraph()
        graph.parameters["classifier.weight"] = nil
        let url = try temporaryDirectory(self).appendingPathComponent("incomplete.safetensors")
        XCTAssertThrowsError(try ModelFile.save(graph, to: url)) { error in
            XCTAssertEqual(error as? ModelFileError, ModelFileError(
                file: url.path, problem: .invalidGraph(.missingParameter(node: "classifier", parameter: "classifier.weight"))))
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: url.path))
    }
}
