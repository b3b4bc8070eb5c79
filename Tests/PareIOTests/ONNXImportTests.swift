import Foundation
import PareCore
@testable import PareIO
import PareModels
import XCTest

/// ONNX import of Pare's own exports (which must round-trip exactly), of the equivalent
/// forms other exporters write (rewritten here from an export, so the expected graph is
/// known), and of bad input.
final class ONNXImportTests: XCTestCase {
    // MARK: Round trip

    func testHandPrunedModelRoundTripsUnchanged() throws {
        let graph = try prunedGraph()
        for options in [ONNXExportOptions(), ONNXExportOptions(opset: 14, staticBatch: 3),
                        ONNXExportOptions(opset: 21, staticBatch: 1)] {
            let imported = try ONNXImport.graph(from: ONNXExport.data(graph, options: options), source: "pruned.onnx")
            XCTAssertEqual(imported.nodes, graph.nodes, "opset \(options.opset)")
            XCTAssertEqual(imported.outputs, graph.outputs)
            assertBitIdentical(imported.parameters, graph.parameters)
            XCTAssertEqual(imported.metadata["model"], "pruned")
        }
    }

    func testZooModelsRoundTripUnchanged() throws {
        for (name, input) in [("resnet20", nil), ("mobilenet_v2-cifar", nil), ("tiny-residual", nil), ("smallcnn", nil),
                              ("studentnet", nil), ("shufflenet_v2_x0_5", [3, 32, 32] as Shape?)] {
            var graph = try Zoo.build(name, options: ZooOptions(input: input, withParameters: false))
            try randomizeParameters(&graph, seed: 5)
            // Dropout is exported as Identity (evaluation form) and so is not read back.
            let withoutDropout = graph.nodes.filter { if case .dropout = $0.op { return false } else { return true } }
            let imported = try ONNXImport.graph(from: ONNXExport.data(graph))
            if withoutDropout.count == graph.nodes.count {
                XCTAssertEqual(imported.nodes, graph.nodes, name)
            } else {
                XCTAssertEqual(imported.nodes.map(\.name), withoutDropout.map(\.name), name)
            }
            assertBitIdentical(imported.parameters, graph.parameters)
        }
    }

    // MARK: Equivalent forms

    /// Exports `prunedGraph()`, applies `rewrite` to the ONNX model, imports it and checks
    /// that the result equals `expected` (default: the original graph) exactly.
    @discardableResult
    private func assertRewriteImportsAs(_ expected: Graph? = nil, file: StaticString = #filePath, line: UInt = #line,
                                        _ rewrite: (inout ModelEditor) throws -> Void) throws -> Graph {
        let graph = try prunedGraph()
        var editor = ModelEditor(try ONNXExport.modelProto(graph, options: ONNXExportOptions()))
        try rewrite(&editor)
        let imported = try ONNXImport.graph(from: editor.model.serializedData(), source: "rewritten.onnx")
        let target = expected ?? graph
        XCTAssertEqual(imported.nodes, target.nodes, file: file, line: line)
        XCTAssertEqual(imported.outputs, target.outputs, file: file, line: line)
        assertBitIdentical(imported.parameters, target.parameters, file: file, line: line)
        return imported
    }

    func testPadIsFoldedIntoConv() throws {
        try assertRewriteImportsAs { model in
            // stem.0 pads [1, 0, 1, 2]: move all but the top row into a Pad before it.
            let conv = model.index(of: "stem.0")
            model.setInts(conv, "pads", [1, 0, 0, 0])
            model.insert(before: conv, opType: "Pad", name: "stem.pad", input: 0,
                         extraInputs: [model.int64Constant("stem.pads", [0, 0, 0, 0, 0, 0, 1, 2])])
        }
    }

    func testGemmFormsAndMatMulWithAdd() throws {
        try assertRewriteImportsAs { model in
            // head.0: Gemm(transB=1) -> MatMul by W^T, then Add bias.
            let gemm = model.index(of: "head.0")
            let weight = try model.floats("head.0.weight")
            model.setFloats("head.0.weight", transpose(weight.values, rows: weight.shape[0], columns: weight.shape[1]),
                            shape: [weight.shape[1], weight.shape[0]])
            let bias = model.graph.node[gemm].input[2]
            model.graph.node[gemm].opType = "MatMul"
            model.graph.node[gemm].attribute = []
            model.graph.node[gemm].input.removeLast()
            model.insert(after: gemm, opType: "Add", name: "head.0.add", extraInputs: [bias])
        }
        try assertRewriteImportsAs { model in
            // head.2: Gemm(transB=0, alpha 2, beta 0.5) with B = W^T / 2 and C = 2 b (exact in float).
            let gemm = model.index(of: "head.2")
            let weight = try model.floats("head.2.weight")
            model.setFloats("head.2.weight", transpose(weight.values, rows: weight.shape[0], columns: weight.shape[1]).map { $0 / 2 },
                            shape: [weight.shape[1], weight.shape[0]])
            let bias = try model.floats("head.2.bias")
            model.setFloats("head.2.bias", bias.values.map { $0 * 2 }, shape: [1, bias.shape[0]])
            model.graph.node[gemm].attribute = [attribute("alpha", float: 2), attribute("beta", float: 0.5)]
        }
    }

    func testEquivalentActivationAndPoolingForms() throws {
        try assertRewriteImportsAs { model in
            // Relu -> Clip(0, inf): only a min bound.
            let relu = model.graph.node.firstIndex { $0.opType == "Relu" }!
            model.graph.node[relu].opType = "Clip"
            model.graph.node[relu].input.append(model.floatConstant("zero", [0], shape: []))
            // HardSwish -> x * HardSigmoid(x).
            let hardSwish = model.graph.node.firstIndex { $0.opType == "HardSwish" }!
            let name = model.graph.node[hardSwish].name
            let x = model.graph.node[hardSwish].input[0]
            model.graph.node[hardSwish].opType = "Mul"
            model.graph.node[hardSwish].input = [x, "\(name).gate"]
            var gate = Onnx_NodeProto()
            gate.opType = "HardSigmoid"
            gate.name = "\(name).hardsigmoid"
            gate.input = [x]
            gate.output = ["\(name).gate"]
            gate.attribute = [attribute("alpha", float: 1 / 6)]
            model.graph.node.insert(gate, at: hardSwish)
            // Add -> Sum; GlobalAveragePool -> ReduceMean over [2, 3] (opset 18 form: axes input).
            let add = model.graph.node.firstIndex { $0.opType == "Add" }!
            model.graph.node[add].opType = "Sum"
            let pool = model.graph.node.firstIndex { $0.opType == "GlobalAveragePool" }!
            model.graph.node[pool].opType = "ReduceMean"
            model.graph.node[pool].input.append(model.int64Constant("hw", [-2, -1]))
            model.setOpset(18)
            // Identity and Dropout in between are dropped.
            let flatten = model.graph.node.firstIndex { $0.opType == "Flatten" }!
            model.insert(before: flatten, opType: "Dropout", name: "drop", input: 0)
            model.insert(before: flatten, opType: "Identity", name: "same", input: 0)
        }
    }

    func testTorchScriptStyleShapeArithmeticAndSplit() throws {
        try assertRewriteImportsAs { model in
            // Flatten -> Reshape to [Shape(x)[0], -1] built by Shape/Gather/Unsqueeze/Concat.
            let flatten = model.graph.node.firstIndex { $0.opType == "Flatten" }!
            let x = model.graph.node[flatten].input[0]
            model.graph.node[flatten].opType = "Reshape"
            model.graph.node[flatten].attribute = []
            model.graph.node[flatten].input = [x, "target"]
            var nodes: [Onnx_NodeProto] = []
            func add(_ opType: String, _ inputs: [String], _ output: String, _ attributes: [Onnx_AttributeProto] = []) {
                var node = Onnx_NodeProto()
                node.opType = opType
                node.input = inputs
                node.output = [output]
                node.attribute = attributes
                nodes.append(node)
            }
            add("Shape", [x], "shape")
            add("Constant", [], "zero", [attribute("value", tensor: int64Tensor("", [0], shape: []))])
            add("Gather", ["shape", "zero"], "batch", [attribute("axis", int: 0)])
            add("Unsqueeze", ["batch", model.int64Constant("axis0", [0])], "batch1")
            add("Constant", [], "minus1", [attribute("value_ints", ints: [-1])])
            add("Concat", ["batch1", "minus1"], "target", [attribute("axis", int: 0)])
            model.graph.node.insert(contentsOf: nodes, at: flatten)
            // The channel Slice -> Split into three, the middle one used.
            let slice = model.graph.node.firstIndex { $0.opType == "Slice" }!
            let input = model.graph.node[slice].input[0]
            let output = model.graph.node[slice].output[0]
            model.graph.node[slice].opType = "Split"
            model.graph.node[slice].input = [input, model.int64Constant("sizes", [3, 11, 6])]
            model.graph.node[slice].output = ["unused_head", output, "unused_tail"]
            model.graph.node[slice].attribute = [attribute("axis", int: 1)]
        }
    }

    func testMulAndAddAfterBatchNormFoldIntoIt() throws {
        let expected = try prunedGraph()
        let scale: [Float] = (0..<13).map { 0.5 + Float($0) / 8 }
        let shift: [Float] = (0..<13).map { Float($0) / 16 - 0.25 }
        let gamma = expected.parameters["stem.1.weight"]!.floats
        let beta = expected.parameters["stem.1.bias"]!.floats
        for c in 0..<13 {
            gamma[c] *= scale[c]
            beta[c] = beta[c] * scale[c] + shift[c]
        }
        try assertRewriteImportsAs(expected) { model in
            let bn = model.index(of: "stem.1")
            model.insert(after: bn, opType: "Mul", name: "stem.scale", extraInputs: [model.floatConstant("s", scale, shape: [1, 13, 1, 1])])
            model.insert(after: bn + 1, opType: "Add", name: "stem.shift", extraInputs: [model.floatConstant("t", shift, shape: [13, 1, 1])])
        }
    }

    func testAddAfterConvBecomesItsBiasAndMulAloneABatchNorm() throws {
        let graph = try prunedGraph()
        var editor = ModelEditor(try ONNXExport.modelProto(graph, options: ONNXExportOptions()))
        let shift: [Float] = (0..<13).map { Float($0) / 10 }
        let dw = editor.index(of: "block.dw")
        editor.insert(after: dw, opType: "Add", name: "block.dw.bias", extraInputs: [editor.floatConstant("b", shift, shape: [1, 13, 1, 1])])
        // A Mul by a scalar after the max pool, whose output has several uses: a new batch norm.
        let pool = editor.graph.node.firstIndex { $0.opType == "MaxPool" }!
        editor.insert(after: pool, opType: "Mul", name: "pool.scale", extraInputs: [editor.floatConstant("two", [2], shape: [])])
        let imported = try ONNXImport.graph(from: editor.model.serializedData())

        let conv = try XCTUnwrap(imported.nodes.first { $0.name == "block.dw" })
        guard case let .conv2d(attributes) = conv.op else { return XCTFail("\(conv.op)") }
        XCTAssertTrue(attributes.bias)
        XCTAssertEqual(imported.parameters["block.dw.bias"]?.scalars, shift)
        let scale = try XCTUnwrap(imported.nodes.first { $0.name == "pool.scale" })
        XCTAssertEqual(scale.op, .batchNorm(BatchNormAttributes(eps: affineBatchNormEpsilon)))
        XCTAssertEqual(imported.parameters["pool.scale.weight"]?.scalars, [Float](repeating: 2, count: 13))
        XCTAssertEqual(imported.nodes.count, graph.nodes.count + 1)

        // Numerically: the pool's consumers see twice its output; emulate that in the
        // original by doubling the weights of the two convs reading it.
        var reference = graph
        for name in ["block.dw.weight", "block.short.weight"] {
            let weight = reference.parameters[name]!.copy()
            for i in 0..<weight.elementCount { weight.floats[i] *= 2 }
            reference.parameters[name] = weight
        }
        reference.nodes[reference.nodes.firstIndex { $0.name == "block.dw" }!].op = conv.op
        reference.parameters["block.dw.bias"] = try Tensor(shape: [13], values: shift)
        let input = randomInput(reference, batch: 2, seed: 4)
        let expected = try DNNLExecutor(graph: reference, batchSize: 2, mode: .inference).forward([input])
        let actual = try DNNLExecutor(graph: imported, batchSize: 2, mode: .inference).forward([input])
        for (a, e) in zip(actual, expected) {
            let scale = e.floats.map(abs).max()!
            let difference = zip(a.floats, e.floats).map { abs($0 - $1) }.max()!
            XCTAssertLessThan(difference, 1e-5 * max(scale, 1), "max |difference| \(difference)")
        }
    }

    // MARK: Errors

    private func assertImportError(_ data: Data, file: StaticString = #filePath, line: UInt = #line,
                                   _ check: (ONNXImportError) -> Void) {
        XCTAssertThrowsError(try ONNXImport.graph(from: data, source: "model.onnx"), file: file, line: line) { error in
            guard let error = error as? ONNXImportError else { return XCTFail("not an ONNXImportError: \(error)", file: file, line: line) }
            XCTAssertEqual(error.file, "model.onnx", file: file, line: line)
            check(error)
        }
    }

    private func rewritten(_ rewrite: (inout ModelEditor) -> Void) throws -> Data {
        var editor = ModelEditor(try ONNXExport.modelProto(try prunedGraph(), options: ONNXExportOptions()))
        rewrite(&editor)
        return try editor.model.serializedData()
    }

    func testUnsupportedOperatorNamesNodeOpTypeOpsetAndSupportedOps() throws {
        assertImportError(try rewritten { model in
            let relu = model.graph.node.firstIndex { $0.opType == "Relu" }!
            model.graph.node[relu].opType = "InstanceNormalization"
            model.graph.node[relu].name = "features.norm"
        }) { error in
            XCTAssertEqual(error.problem, .unsupportedOperator(node: "features.norm", opType: "InstanceNormalization", domain: "",
                                                               opset: 17))
            let text = error.description
            for part in ["model.onnx", "node 'features.norm'", "operator InstanceNormalization (opset 17) is not supported",
                         "Supported operators:", "BatchNormalization", "Conv", "Gather (on constants)"] {
                XCTAssertTrue(text.contains(part), "missing '\(part)' in: \(text)")
            }
        }
        assertImportError(try rewritten { model in
            let relu = model.graph.node.firstIndex { $0.opType == "Relu" }!
            model.graph.node[relu].domain = "com.microsoft"
            model.graph.node[relu].opType = "FusedConv"
        }) { error in
            XCTAssertTrue(error.description.contains("operator com.microsoft.FusedConv"), error.description)
        }
    }

    func testUnsupportedUsesAreNamed() throws {
        let cases: [(String, (inout ModelEditor) -> Void)] = [
            ("Transpose only inside a channel shuffle", { model in
                let transpose = model.graph.node.firstIndex { $0.opType == "Transpose" }!
                model.graph.node[transpose].attribute = [attribute("perm", ints: [0, 1, 2, 4, 3])]
            }),
            ("Clip(0.0, 4.0)", { model in
                let clip = model.graph.node.firstIndex { $0.opType == "Clip" }!
                model.graph.node[clip].input[2] = model.floatConstant("four", [4], shape: [])
            }),
            ("2-D convolutions only", { model in
                let conv = model.index(of: "block.pw")
                let weight = try! model.floats("block.pw.weight")
                model.setFloats("block.pw.weight", weight.values, shape: [weight.shape[0], weight.shape[1], 1])
                model.graph.node[conv].attribute.removeAll { $0.name == "kernel_shape" }
            }),
            ("training-mode BatchNormalization", { model in
                let bn = model.index(of: "stem.1")
                model.graph.node[bn].attribute.append(attribute("training_mode", int: 1))
            }),
            ("Pare reads a Reshape as a flatten ([N, F]), its inverse ([N, F] to [N, F, 1, 1]), the identity, or as part "
                + "of a channel shuffle", { model in
                let reshape = model.graph.node.firstIndex { $0.opType == "Reshape" }!
                model.graph.node[reshape].input[1] = model.int64Constant("odd", [0, 2, 10, 81])
            }),
        ]
        for (message, rewrite) in cases {
            assertImportError(try rewritten(rewrite)) { error in
                guard case .unsupportedUse = error.problem else { return XCTFail("\(message): \(error)") }
                XCTAssertTrue(error.description.contains(message), "expected '\(message)' in: \(error.description)")
            }
        }
    }

    func testTruncatedFilesGiveClearErrors() throws {
        let data = try ONNXExport.data(try prunedGraph())
        var cuts = Array(stride(from: 0, to: data.count, by: 13))
        cuts += (max(0, data.count - 40)..<data.count)
        let nodes = try prunedGraph().nodes
        for cut in cuts {
            do {
                // A cut between two top-level fields leaves a shorter valid protobuf (here:
                // the model without its trailing metadata), which imports.
                let graph = try ONNXImport.graph(from: data.prefix(cut), source: "model.onnx")
                XCTAssertEqual(graph.nodes, nodes, "cut at \(cut)")
            } catch let error as ONNXImportError {
                switch error.problem {
                case .unreadable, .invalidModel, .unsupportedOpset: break
                default: XCTFail("cut at \(cut): \(error)")
                }
            }
        }
        assertImportError(data.prefix(data.count / 2)) { error in
            XCTAssertTrue(error.description.hasPrefix("model.onnx: not a readable ONNX model"), error.description)
        }
        assertImportError(Data()) { error in
            XCTAssertEqual(error.problem, .unsupportedOpset(found: nil))
        }
    }

    /// Random bytes and random corruptions of a valid file: an error or a valid graph,
    /// never a crash.
    func testGarbageAndCorruptedBytesNeverCrash() throws {
        var generator = SeededGenerator(seed: 11)
        for length in [1, 7, 64, 1000, 20000] {
            let garbage = Data((0..<length).map { _ in UInt8(truncatingIfNeeded: generator.next()) })
            XCTAssertThrowsError(try ONNXImport.graph(from: garbage)) { XCTAssertTrue($0 is ONNXImportError, "\($0)") }
        }
        assertImportError(Data("this is not an onnx model, just some text\n".utf8)) { _ in }

        let valid = try ONNXExport.data(try prunedGraph())
        var imported = 0
        for _ in 0..<400 {
            var corrupted = valid
            for _ in 0..<(1 + Int(generator.next() % 4)) {
                let position = Int(generator.next() % UInt64(corrupted.count))
                corrupted[position] = UInt8(truncatingIfNeeded: generator.next())
            }
            do {
                let graph = try ONNXImport.graph(from: corrupted)
                try graph.validate()
                imported += 1
            } catch {
                XCTAssertTrue(error is ONNXImportError, "\(error)")
            }
        }
        print("corrupted files that still imported (flipped weights or names): \(imported) of 400")
    }

    func testUnreadableFileNamesIt() {
        XCTAssertThrowsError(try ONNXImport.read(from: URL(fileURLWithPath: "/nonexistent/model.onnx"))) { error in
            XCTAssertTrue("\(error)".hasPrefix("/nonexistent/model.onnx: not a readable ONNX model (cannot read the file"), "\(error)")
        }
    }

    /// Input dimensions each within Int32 whose product is absurd: an error naming the input.
    func testAbsurdInputDimensionsAreRefused() throws {
        let data = try rewritten { model in
            model.graph.input[0].type.tensorType.shape.dim[2].dimValue = Int64(Int32.max)
            model.graph.input[0].type.tensorType.shape.dim[3].dimValue = Int64(Int32.max)
        }
        assertImportError(data) { error in
            guard case let .unsupportedUse(node, opType, reason) = error.problem else { return XCTFail("\(error)") }
            XCTAssertEqual([node, opType], ["input", "graph input"])
            XCTAssertTrue(reason.contains("input shape [3x2147483647x2147483647] has more than 4294967296 elements"), reason)
        }
        XCTAssertThrowsError(try ONNXImport.graph(from: try ONNXExport.data(try prunedGraph()),
                                                  options: ONNXImportOptions(input: [3, 1 << 40, 1 << 40]))) { error in
            XCTAssertTrue("\(error)".contains("more than 4294967296 elements"), "\(error)")
        }
    }

    func testSymbolicSpatialInputNeedsAShape() throws {
        let data = try rewritten { model in
            model.graph.input[0].type.tensorType.shape.dim[2].dimParam = "height"
        }
        assertImportError(data) { error in
            XCTAssertTrue(error.description.contains("give the input shape"), error.description)
        }
        let graph = try ONNXImport.graph(from: data, options: ONNXImportOptions(input: [3, 20, 18]))
        XCTAssertEqual(graph.nodes, try prunedGraph().nodes)
    }
}

// MARK: - Support

/// A model with channel counts no zoo model has (as pruning leaves them) and every op but
/// dropout (which an evaluation-form export drops): asymmetric padding with dilation,
/// ceil-mode max pooling, depthwise and grouped convs, a residual add, concat, channel
/// shuffle and slice, average pooling without padding in the divisor, batch norm on
/// features, two outputs.
func prunedGraph() throws -> Graph {
    var b = GraphBuilder()
    var x = b.input([3, 20, 18])
    x = b.conv2d(x, "stem.0", Conv2dAttributes(outChannels: 13, kernelSize: [3, 3],
                                               padding: Padding2d(top: 1, left: 0, bottom: 1, right: 2),
                                               dilation: [2, 1], bias: true))                       // [13, 18, 18]
    x = b.relu(b.batchNorm(x, "stem.1"))
    let pooled = b.maxPool(x, kernelSize: 2, ceilMode: true)                                          // [13, 9, 9]
    var y = b.relu6(b.batchNorm(b.conv2d(pooled, "block.dw", outChannels: 13, kernelSize: 3, padding: 1, groups: 13,
                                         bias: false), "block.dw_bn"))
    y = b.hardSwish(b.batchNorm(b.conv2d(y, "block.pw", outChannels: 10, kernelSize: 1, bias: false), "block.bn"))
    let shortcut = b.conv2d(pooled, "block.short", outChannels: 10, kernelSize: 1, bias: true)
    let sum = b.sigmoid(b.add(y, shortcut))
    let joined = b.concat([sum, shortcut])                                                            // [20, 9, 9]
    x = b.relu(b.channelSlice(b.channelShuffle(joined, groups: 4), start: 3, count: 11))              // [11, 9, 9]
    x = b.avgPool(x, kernelSize: 3, stride: 2, padding: 1, countIncludePad: false)                    // [11, 5, 5]
    x = b.flatten(b.globalAvgPool(x))
    x = b.relu(b.batchNorm(b.linear(x, "head.0", outFeatures: 7), "head.1"))
    x = b.softmax(b.linear(x, "head.2", outFeatures: 5))
    var graph = try b.buildWithoutParameters(outputs: [x, joined], metadata: ["model": "pruned"])
    try randomizeParameters(&graph, seed: 9)
    return graph
}

func randomInput(_ graph: Graph, batch: Int, seed: UInt64) -> Tensor {
    guard case let .input(shape) = graph.nodes[graph.inputIndices[0]].op else { fatalError("no input") }
    var generator = SeededGenerator(seed: seed)
    let input = Tensor(zeros: shape.prepending(batch))
    for i in 0..<input.elementCount { input.floats[i] = generator.nextNormal() }
    return input
}

func transpose(_ values: [Float], rows: Int, columns: Int) -> [Float] {
    var result = [Float](repeating: 0, count: values.count)
    for r in 0..<rows {
        for c in 0..<columns { result[c * rows + r] = values[r * columns + c] }
    }
    return result
}

func attribute(_ name: String, int: Int) -> Onnx_AttributeProto {
    var a = Onnx_AttributeProto()
    a.name = name
    a.type = .int
    a.i = Int64(int)
    return a
}

func attribute(_ name: String, ints: [Int]) -> Onnx_AttributeProto {
    var a = Onnx_AttributeProto()
    a.name = name
    a.type = .ints
    a.ints = ints.map(Int64.init)
    return a
}

func attribute(_ name: String, float: Float) -> Onnx_AttributeProto {
    var a = Onnx_AttributeProto()
    a.name = name
    a.type = .float
    a.f = float
    return a
}

func attribute(_ name: String, tensor: Onnx_TensorProto) -> Onnx_AttributeProto {
    var a = Onnx_AttributeProto()
    a.name = name
    a.type = .tensor
    a.t = tensor
    return a
}

func int64Tensor(_ name: String, _ values: [Int], shape: [Int]) -> Onnx_TensorProto {
    var t = Onnx_TensorProto()
    t.name = name
    t.dataType = Int32(Onnx_TensorProto.DataType.int64.rawValue)
    t.dims = shape.map(Int64.init)
    t.int64Data = values.map(Int64.init)
    return t
}

/// Edits an exported `ModelProto` into the forms other exporters write.
struct ModelEditor {
    var model: Onnx_ModelProto
    init(_ model: Onnx_ModelProto) { self.model = model }

    var graph: Onnx_GraphProto {
        get { model.graph }
        set { model.graph = newValue }
    }

    func index(of name: String) -> Int { graph.node.firstIndex { $0.name == name }! }

    mutating func setOpset(_ version: Int) { model.opsetImport[0].version = Int64(version) }

    mutating func setInts(_ node: Int, _ name: String, _ values: [Int]) {
        graph.node[node].attribute.removeAll { $0.name == name }
        graph.node[node].attribute.append(attribute(name, ints: values))
    }

    /// Inserts a one-output node before node `node`, reading its input `input` (plus
    /// `extraInputs`), and makes `node` read it instead.
    mutating func insert(before node: Int, opType: String, name: String, input: Int, extraInputs: [String] = []) {
        var inserted = Onnx_NodeProto()
        inserted.opType = opType
        inserted.name = name
        inserted.input = [graph.node[node].input[input]] + extraInputs
        inserted.output = ["\(name).out"]
        graph.node[node].input[input] = "\(name).out"
        graph.node.insert(inserted, at: node)
    }

    /// Inserts a one-output node after node `node`, taking over its output name, reading
    /// its (renamed) output and `extraInputs`.
    mutating func insert(after node: Int, opType: String, name: String, extraInputs: [String] = []) {
        let output = graph.node[node].output[0]
        graph.node[node].output[0] = "\(output).before_\(name)"
        var inserted = Onnx_NodeProto()
        inserted.opType = opType
        inserted.name = name
        inserted.input = [graph.node[node].output[0]] + extraInputs
        inserted.output = [output]
        graph.node.insert(inserted, at: node + 1)
    }

    mutating func int64Constant(_ name: String, _ values: [Int]) -> String {
        graph.initializer.append(int64Tensor(name, values, shape: [values.count]))
        return name
    }

    mutating func floatConstant(_ name: String, _ values: [Float], shape: [Int]) -> String {
        var t = Onnx_TensorProto()
        t.name = name
        t.dataType = Int32(Onnx_TensorProto.DataType.float.rawValue)
        t.dims = shape.map(Int64.init)
        t.floatData = values
        graph.initializer.append(t)
        return name
    }

    func floats(_ name: String) throws -> (values: [Float], shape: [Int]) {
        let proto = try XCTUnwrap(graph.initializer.first { $0.name == name })
        let tensor = try ConstantTensor(proto: proto)
        return (tensor.floatValues!, tensor.shape)
    }

    mutating func setFloats(_ name: String, _ values: [Float], shape: [Int]) {
        graph.initializer.removeAll { $0.name == name }
        _ = floatConstant(name, values, shape: shape)
    }
}
