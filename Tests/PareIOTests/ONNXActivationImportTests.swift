import Foundation
import PareCore
@testable import PareIO
import PareModels
import XCTest

/// ONNX import and export of the activations and the elementwise product added for
/// torchvision's mobile models (LeakyReLU, PReLU, ELU, Tanh, SiLU, HardSigmoid, a
/// squeeze-and-excitation `Mul`): Pare's own exports round-trip exactly, and the forms
/// torch.onnx writes (a gate first in `Mul`, `x * Sigmoid(x)` for SiLU, an unsqueezed PReLU
/// slope) import as the same graph. The export parity test checks these ops against
/// onnxruntime through ``everyOpGraph()``.
final class ONNXActivationImportTests: XCTestCase {
    /// A stem with a per-channel PReLU, the other activations, a hard-sigmoid SE gate (as in
    /// MobileNetV3), a sigmoid SE gate (as in EfficientNet), a same-shape product and a
    /// shared PReLU on features.
    private func activationGraph() throws -> Graph {
        var b = GraphBuilder()
        let input = b.input([4, 6, 6])
        var x = b.conv2d(input, "stem.0", outChannels: 8, kernelSize: 3, padding: 1, bias: false)
        x = b.prelu(b.batchNorm(x, "stem.1"), "stem.2")
        x = b.silu(b.elu(b.leakyRelu(x, negativeSlope: 0.2), alpha: 0.5))
        let squeezed = b.relu(b.conv2d(b.globalAvgPool(x), "se.fc1", outChannels: 2, kernelSize: 1))
        x = b.mul(x, b.hardSigmoid(b.conv2d(squeezed, "se.fc2", outChannels: 8, kernelSize: 1)))
        let squeezed2 = b.silu(b.conv2d(b.globalAvgPool(x), "se2.fc1", outChannels: 2, kernelSize: 1))
        x = b.mul(x, b.sigmoid(b.conv2d(squeezed2, "se2.fc2", outChannels: 8, kernelSize: 1)))
        x = b.mul(b.tanh(x), x)
        x = b.localResponseNorm(x, size: 5, alpha: 0.01, beta: 0.75, k: 2)
        x = b.pad(b.pad(x, Padding2d(top: 1, left: 0, bottom: 2, right: 1), mode: .reflect), Padding2d(2), mode: .replicate)
        // A linear squeeze-and-excitation (x * sigmoid(fc(pool(x)).view(N, C, 1, 1))).
        x = b.mul(x, b.sigmoid(b.unflatten(b.linear(b.flatten(b.globalAvgPool(x)), "se3.fc", outFeatures: 8))))
        x = b.flatten(b.globalAvgPool(x))
        x = b.prelu(b.linear(x, "fc", outFeatures: 3), "fc_act", perChannel: false)
        var graph = try b.buildWithoutParameters(outputs: [x], metadata: ["model": "activations"])
        try randomizeParameters(&graph, seed: 11)
        return graph
    }

    private func importRewritten(_ graph: Graph, _ rewrite: (inout ModelEditor) throws -> Void) throws -> Graph {
        var editor = ModelEditor(try ONNXExport.modelProto(graph, options: ONNXExportOptions()))
        try rewrite(&editor)
        return try ONNXImport.graph(from: editor.model.serializedData(), source: "rewritten.onnx")
    }

    func testActivationsAndGatesRoundTripUnchanged() throws {
        let graph = try activationGraph()
        for options in [ONNXExportOptions(), ONNXExportOptions(opset: 14, staticBatch: 2), ONNXExportOptions(opset: 21)] {
            let imported = try ONNXImport.graph(from: ONNXExport.data(graph, options: options), source: "activations.onnx")
            XCTAssertEqual(imported.nodes, graph.nodes, "opset \(options.opset)")
            XCTAssertEqual(imported.outputs, graph.outputs)
            assertBitIdentical(imported.parameters, graph.parameters)
        }
    }

    func testExportWritesONNXOperatorsAndAttributes() throws {
        let model = try ONNXExport.modelProto(try activationGraph(), options: ONNXExportOptions())
        let types = model.graph.node.map(\.opType)
        for type in ["PRelu", "LeakyRelu", "Elu", "Tanh", "HardSigmoid", "Sigmoid", "Mul"] {
            XCTAssertTrue(types.contains(type), "\(type) missing from \(types)")
        }
        func float(_ opType: String, _ name: String) -> Float? {
            model.graph.node.first { $0.opType == opType }?.attribute.first { $0.name == name }?.f
        }
        XCTAssertEqual(float("LeakyRelu", "alpha"), 0.2)
        XCTAssertEqual(float("Elu", "alpha"), 0.5)
        XCTAssertEqual(float("HardSigmoid", "alpha"), Float(1.0 / 6))
        XCTAssertEqual(float("HardSigmoid", "beta"), 0.5)
        // SiLU is x * Sigmoid(x): two SiLUs, three SE gates and the same-shape product make six Mul.
        XCTAssertEqual(types.filter { $0 == "Mul" }.count, 6)
        // The per-channel slope keeps its state-dict shape and is reshaped to [8, 1, 1].
        let slope = try XCTUnwrap(model.graph.initializer.first { $0.name == "stem.2.weight" })
        XCTAssertEqual(slope.dims, [8])
        XCTAssertEqual(model.graph.initializer.first { $0.name == "fc_act.weight" }?.dims, [1])
    }

    /// torch.onnx may write the gate first in an SE `Mul`, `Sigmoid(x) * x` for `x * Sigmoid(x)`,
    /// and the PReLU slope as a folded `[C, 1, 1]` constant with an exporter-made name.
    func testTorchStyleFormsImportAsTheSameGraph() throws {
        let graph = try activationGraph()
        let imported = try importRewritten(graph) { model in
            // Every Mul but the same-shape product, whose order is the graph's.
            let tanh = model.graph.node.first { $0.opType == "Tanh" }!.output[0]
            let muls = model.graph.node.indices.filter { model.graph.node[$0].opType == "Mul" }
            for m in muls where !model.graph.node[m].input.contains(tanh) { model.graph.node[m].input.reverse() }
            XCTAssertEqual(muls.count, 6)
            let slope = try model.floats("stem.2.weight")
            let prelu = model.graph.node.firstIndex { $0.opType == "PRelu" && $0.name == "stem.2" }!
            model.graph.node[prelu].input[1] = model.floatConstant("onnx::PRelu_321", slope.values, shape: [8, 1, 1])
            model.graph.node.removeAll { $0.name == "stem.2.reshape_slope" }
            model.graph.initializer.removeAll { $0.name == "stem.2.weight" }
        }
        XCTAssertEqual(imported.nodes, graph.nodes)
        assertBitIdentical(imported.parameters, graph.parameters)
    }

    /// Shape-only forms exporters write: `Squeeze` of `[N, C, 1, 1]` (axes as an attribute,
    /// as an input, or none) and `Reshape [N, C]` for a flatten; `Unsqueeze` axes [2, 3] (or
    /// [-2, -1]) and `Reshape [-1, C, 1, 1]` for an unflatten.
    func testSqueezeUnsqueezeAndReshapeFormsImportAsTheSameGraph() throws {
        let graph = try activationGraph()
        let forms: [(String, (inout ModelEditor) throws -> Void)] = [
            ("Squeeze and Unsqueeze, axes inputs", { model in
                let flatten = model.graph.node.firstIndex { $0.opType == "Flatten" }!
                model.graph.node[flatten].opType = "Squeeze"
                model.graph.node[flatten].attribute = []
                model.graph.node[flatten].input.append(model.int64Constant("hw", [2, 3]))
                let unflatten = model.graph.node.firstIndex { $0.opType == "Reshape" && $0.name.hasPrefix("unflatten") }!
                model.graph.node[unflatten].opType = "Unsqueeze"
                model.graph.node[unflatten].input[1] = model.int64Constant("last2", [-2, -1])
            }),
            ("Squeeze without axes, Reshape to [-1, C, 1, 1]", { model in
                let flatten = model.graph.node.firstIndex { $0.opType == "Flatten" }!
                model.graph.node[flatten].opType = "Squeeze"
                model.graph.node[flatten].attribute = []
                let unflatten = model.graph.node.firstIndex { $0.opType == "Reshape" && $0.name.hasPrefix("unflatten") }!
                model.graph.node[unflatten].input[1] = model.int64Constant("view", [-1, 8, 1, 1])
            }),
            ("opset 11: Squeeze and Unsqueeze with axes attributes", { model in
                model.setOpset(11)
                let flatten = model.graph.node.firstIndex { $0.opType == "Flatten" }!
                model.graph.node[flatten].opType = "Squeeze"
                model.graph.node[flatten].attribute = [attribute("axes", ints: [3, 2])]
                let unflatten = model.graph.node.firstIndex { $0.opType == "Reshape" && $0.name.hasPrefix("unflatten") }!
                model.graph.node[unflatten].opType = "Unsqueeze"
                model.graph.node[unflatten].input = [model.graph.node[unflatten].input[0]]
                model.graph.node[unflatten].attribute = [attribute("axes", ints: [2, 3])]
            }),
        ]
        for (label, rewrite) in forms {
            let imported = try importRewritten(graph, rewrite)
            XCTAssertEqual(imported.nodes.map(\.op), graph.nodes.map(\.op), label)
            assertBitIdentical(imported.parameters, graph.parameters)
        }
    }

    /// Opset 6's PRelu takes a `[C]` slope per channel of `[N, C, H, W]` (no numpy
    /// broadcasting yet); from opset 7 on, `[C]` aligns with W and is refused unless W is C.
    func testOpset6PReLUSlopeIsPerChannel() throws {
        var b = GraphBuilder()
        var x = b.conv2d(b.input([3, 5, 7]), "conv", outChannels: 4, kernelSize: 3, padding: 1)
        x = b.flatten(b.globalAvgPool(b.prelu(x, "act")))
        var graph = try b.buildWithoutParameters(outputs: [x])
        try randomizeParameters(&graph, seed: 3)
        func rewrite(opset: Int) throws -> Graph {
            try importRewritten(graph) { model in
                model.setOpset(opset)
                let prelu = model.graph.node.firstIndex { $0.opType == "PRelu" }!
                model.graph.node[prelu].input[1] = "act.weight"
                model.graph.node.removeAll { $0.name == "act.reshape_slope" }
            }
        }
        let imported = try rewrite(opset: 6)
        XCTAssertEqual(imported.nodes, graph.nodes)
        assertBitIdentical(imported.parameters, graph.parameters)
        XCTAssertThrowsError(try rewrite(opset: 7)) { error in
            XCTAssertTrue("\(error)".contains("PRelu with a slope of shape [4]"), "\(error)")
        }
    }

    /// A sigmoid used elsewhere too is not folded into SiLU: the product stays a `mul`.
    func testSigmoidWithAnotherUseStaysAProduct() throws {
        var b = GraphBuilder()
        let x = b.conv2d(b.input([3, 4, 4]), "conv", outChannels: 5, kernelSize: 1)
        let s = b.sigmoid(x)
        let product = b.mul(x, s)
        var graph = try b.buildWithoutParameters(outputs: [product, s])
        try randomizeParameters(&graph, seed: 2)
        let imported = try ONNXImport.graph(from: ONNXExport.data(graph))
        XCTAssertEqual(imported.nodes.map(\.op), graph.nodes.map(\.op))
    }

    func testUnsupportedFormsAreNamed() throws {
        let graph = try activationGraph()
        let cases: [(String, (inout ModelEditor) throws -> Void)] = [
            ("HardSigmoid(alpha 0.2, beta 0.5)", { model in
                let h = model.graph.node.firstIndex { $0.opType == "HardSigmoid" }!
                model.graph.node[h].attribute = [attribute("alpha", float: 0.2)]
            }),
            ("are neither the same shape nor [C, H, W] and [C, 1, 1]", { model in
                // The gate of the first SE block read from the pooled map of 2 channels.
                let gate = model.graph.node.first { $0.opType == "HardSigmoid" }!.output[0]
                let m = model.graph.node.firstIndex { $0.opType == "Mul" && $0.input.contains(gate) }!
                let fc1 = model.graph.node.first { $0.name == "se.fc1" }!
                model.graph.node[m].input = model.graph.node[m].input.map { $0 == gate ? fc1.output[0] : $0 }
            }),
            ("LRN size 4", { model in
                let lrn = model.graph.node.firstIndex { $0.opType == "LRN" }!
                model.graph.node[lrn].attribute.removeAll { $0.name == "size" }
                model.graph.node[lrn].attribute.append(attribute("size", int: 4))
            }),
            ("Pad mode 'wrap'", { model in
                let pad = model.graph.node.firstIndex { $0.opType == "Pad" }!
                var mode = Onnx_AttributeProto()
                mode.name = "mode"
                mode.type = .string
                mode.s = Data("wrap".utf8)
                model.graph.node[pad].attribute = [mode]
            }),
            ("Pare reads Squeeze of the 1x1 axes of [N, C, 1, 1]", { model in
                let flatten = model.graph.node.firstIndex { $0.opType == "Flatten" }!
                model.graph.node[flatten].opType = "Squeeze"
                model.graph.node[flatten].attribute = []
                model.graph.node[flatten].input.append(model.int64Constant("h", [2]))
            }),
            ("PRelu with a slope of shape [6]", { model in
                let prelu = model.graph.node.firstIndex { $0.opType == "PRelu" && $0.name == "stem.2" }!
                model.graph.node[prelu].input[1] = model.floatConstant("odd", [Float](repeating: 0.1, count: 6), shape: [6])
            }),
        ]
        for (message, rewrite) in cases {
            XCTAssertThrowsError(try importRewritten(graph, rewrite), message) { error in
                XCTAssertTrue("\(error)".contains(message), "expected '\(message)' in: \(error)")
            }
        }
    }
}
