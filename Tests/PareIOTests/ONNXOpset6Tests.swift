import Foundation
import PareCore
@testable import PareIO
import PareModels
import XCTest

/// Files that declare `ai.onnx` opset 6: read where the opset-6 form of an operator means
/// what opset 7's does, refused with the operator, the opset and the attribute where not.
/// Each file is an opset-17 export of ``opset6Graph()`` rewritten into opset 6's forms, so
/// the graph it must import as is known exactly.
final class ONNXOpset6Tests: XCTestCase {
    private static let channels = 6

    /// conv (bias) -> batch norm -> relu -> max pool, a residual add, an average pool and a
    /// concat, then global pool -> flatten -> linear -> softmax: only operators opset 6 has.
    private func opset6Graph() throws -> Graph {
        var b = GraphBuilder()
        let input = b.input([3, 12, 10])
        var x = b.conv2d(input, "stem", outChannels: Self.channels, kernelSize: 3, padding: 1, bias: true)   // [6, 12, 10]
        x = b.maxPool(b.relu(b.batchNorm(x, "stem_bn")), kernelSize: 2)                                     // [6, 6, 5]
        let branch = b.relu(b.batchNorm(b.conv2d(x, "branch", outChannels: Self.channels, kernelSize: 3, padding: 1,
                                                 bias: false), "branch_bn"))
        let sum = b.add(x, branch)
        let averaged = b.avgPool(sum, kernelSize: 3, stride: 1, padding: 1, countIncludePad: false)
        x = b.flatten(b.globalAvgPool(b.concat([sum, averaged])))                                           // [12]
        x = b.softmax(b.linear(x, "fc", outFeatures: 4))
        var graph = try b.buildWithoutParameters(outputs: [x], metadata: ["model": "opset6"])
        try randomizeParameters(&graph, seed: 6)
        return graph
    }

    /// The export of ``opset6Graph()`` in opset 6's own forms: declared opset 6, batch norms
    /// with `is_test = 1`, the Gemm with `broadcast = 1`, a test-mode Dropout after the
    /// flatten, and the stem's bias moved into an `Add(broadcast = 1, axis = 1)` of a `[C]`
    /// constant (numpy broadcasting would align `[C]` with W instead).
    private func opset6Model(_ graph: Graph) throws -> ModelEditor {
        var model = ModelEditor(try ONNXExport.modelProto(graph, options: ONNXExportOptions(opset: 14)))
        model.setOpset(6)
        for k in model.graph.node.indices where model.graph.node[k].opType == "BatchNormalization" {
            model.graph.node[k].attribute.append(attribute("is_test", int: 1))
        }
        let gemm = model.index(of: "fc")
        model.graph.node[gemm].attribute.append(attribute("broadcast", int: 1))
        let flatten = try XCTUnwrap(model.graph.node.firstIndex { $0.opType == "Flatten" })
        model.insert(after: flatten, opType: "Dropout", name: "drop")
        model.graph.node[flatten + 1].attribute = [attribute("is_test", int: 1), floatAttribute("ratio", 0.5)]

        let stem = model.index(of: "stem")
        XCTAssertEqual(model.graph.node[stem].input, ["input", "stem.weight", "stem.bias"])
        model.graph.node[stem].input.removeLast()
        let bias = try model.floats("stem.bias")
        XCTAssertEqual(bias.shape, [Self.channels])
        model.graph.initializer.removeAll { $0.name == "stem.bias" }
        model.insert(after: stem, opType: "Add", name: "stem.add_bias",
                     extraInputs: [model.floatConstant("stem.bias", bias.values, shape: [Self.channels])])
        model.graph.node[stem + 1].attribute = [attribute("broadcast", int: 1), attribute("axis", int: 1)]
        return model
    }

    private func importing(_ model: ModelEditor) throws -> Graph {
        try ONNXImport.graph(from: model.model.serializedData(), source: "old.onnx")
    }

    func testOpset6FormsImportAsTheSameGraph() throws {
        let graph = try opset6Graph()
        let imported = try importing(try opset6Model(graph))
        XCTAssertEqual(imported.nodes.count, graph.nodes.count, "the Dropout is dropped, the bias Add folded into the conv")
        XCTAssertEqual(imported.nodes, graph.nodes)
        XCTAssertEqual(imported.outputs, graph.outputs)
        assertBitIdentical(imported.parameters, graph.parameters)
        XCTAssertTrue(imported.metadata["source"]?.hasSuffix("opset 6") ?? false, "\(imported.metadata)")
    }

    /// `Mul(broadcast = 1, axis = 1)` by a `[C]` constant after a batch norm scales it per
    /// channel (folded into gamma and beta); without `axis`, a `[C, 1, 1]` constant (suffix
    /// matching) does the same.
    func testLegacyBroadcastMulFoldsPerChannel() throws {
        let graph = try opset6Graph()
        let scale: [Float] = (0..<Self.channels).map { 0.5 + Float($0) / 8 }
        var expected = graph
        for name in ["stem_bn.weight", "stem_bn.bias"] {
            let tensor = graph.parameters[name]!.copy()
            for c in 0..<Self.channels { tensor.floats[c] *= scale[c] }
            expected.parameters[name] = tensor
        }
        for (shape, withAxis) in [([Self.channels], true), ([Self.channels, 1, 1], false)] {
            var model = try opset6Model(graph)
            let bn = model.index(of: "stem_bn")
            model.insert(after: bn, opType: "Mul", name: "stem_bn.scale",
                         extraInputs: [model.floatConstant("scale", scale, shape: shape)])
            model.graph.node[bn + 1].attribute = [attribute("broadcast", int: 1)] + (withAxis ? [attribute("axis", int: 1)] : [])
            let imported = try importing(model)
            XCTAssertEqual(imported.nodes, expected.nodes, "scale of shape \(shape)")
            assertBitIdentical(imported.parameters, expected.parameters)
        }
    }

    /// Forms whose opset-6 meaning differs from opset 7's: the error names the operator,
    /// the opset and the attribute.
    func testDifferingFormsAreRefusedByAttribute() throws {
        let graph = try opset6Graph()
        let cases: [(String, (inout ModelEditor) throws -> Void)] = [
            ("node 'stem_bn' (BatchNormalization): BatchNormalization in opset 6 with attribute is_test = 0", { model in
                let bn = model.index(of: "stem_bn")
                model.graph.node[bn].attribute.removeAll { $0.name == "is_test" }
            }),
            ("BatchNormalization in opset 6 with attribute spatial = 0", { model in
                model.graph.node[model.index(of: "branch_bn")].attribute.append(attribute("spatial", int: 0))
            }),
            ("node 'drop' (Dropout): Dropout in opset 6 with attribute is_test = 0", { model in
                model.graph.node[model.index(of: "drop")].attribute = [floatAttribute("ratio", 0.5)]
            }),
            ("node 'fc' (Gemm): Gemm in opset 6 with attribute broadcast = 0", { model in
                model.graph.node[model.index(of: "fc")].attribute.removeAll { $0.name == "broadcast" }
            }),
            ("node 'stem.add_bias' (Add): Add in opset 6 with attribute broadcast = 0", { model in
                model.graph.node[model.index(of: "stem.add_bias")].attribute = []
            }),
        ]
        for (message, rewrite) in cases {
            var model = try opset6Model(graph)
            try rewrite(&model)
            XCTAssertThrowsError(try importing(model), message) { error in
                guard let error = error as? ONNXImportError, case .unsupportedUse = error.problem else {
                    return XCTFail("\(message): \(error)")
                }
                XCTAssertTrue(error.description.hasPrefix("old.onnx: "), error.description)
                XCTAssertTrue(error.description.contains(message), "expected '\(message)' in: \(error.description)")
            }
        }
    }

    /// A Dropout of ratio 0 is the identity in training mode too.
    func testDropoutOfRatioZeroNeedsNoTestMode() throws {
        let graph = try opset6Graph()
        var model = try opset6Model(graph)
        model.graph.node[model.index(of: "drop")].attribute = [floatAttribute("ratio", 0)]
        XCTAssertEqual(try importing(model).nodes, graph.nodes)
    }

    func testOpsetsBelow6AreStillRefused() throws {
        var model = try opset6Model(try opset6Graph())
        model.setOpset(5)
        XCTAssertThrowsError(try importing(model)) { error in
            XCTAssertEqual((error as? ONNXImportError)?.problem, .unsupportedOpset(found: 5))
            XCTAssertTrue("\(error)".contains("opset 5 is not supported; the importer reads ai.onnx opsets 6 to 23"), "\(error)")
        }
    }
}

private func floatAttribute(_ name: String, _ value: Float) -> Onnx_AttributeProto {
    var a = Onnx_AttributeProto()
    a.name = name
    a.type = .float
    a.f = value
    return a
}
