import Foundation
import PareCore
@testable import PareIO
import PareModels
import XCTest

/// Exports graphs and decodes the bytes back with the generated protobuf code.
final class ONNXExportTests: XCTestCase {
    /// The ONNX op types a Pare op becomes, in order.
    private func expectedOpTypes(_ op: Op) -> [String] {
        switch op {
        case .input: return []
        case .conv2d: return ["Conv"]
        case .batchNorm: return ["BatchNormalization"]
        case .relu: return ["Relu"]
        case .relu6: return ["Clip"]
        case .hardSwish: return ["HardSwish"]
        case .sigmoid: return ["Sigmoid"]
        case .leakyRelu: return ["LeakyRelu"]
        case let .prelu(perChannel): return perChannel ? ["Reshape", "PRelu"] : ["PRelu"]
        case .elu: return ["Elu"]
        case .tanh: return ["Tanh"]
        case .silu: return ["Sigmoid", "Mul"]
        case .hardSigmoid: return ["HardSigmoid"]
        case .localResponseNorm: return ["LRN"]
        case .pad: return ["Pad"]
        case .maxPool: return ["MaxPool"]
        case .avgPool: return ["AveragePool"]
        case .globalAvgPool: return ["GlobalAveragePool"]
        case .linear: return ["Gemm"]
        case .add: return ["Add"]
        case .mul: return ["Mul"]
        case .concat: return ["Concat"]
        case .channelShuffle: return ["Reshape", "Transpose", "Reshape"]
        case .channelSlice: return ["Slice"]
        case .flatten: return ["Flatten"]
        case .unflatten: return ["Reshape"]
        case .dropout: return ["Identity"]
        case .softmax: return ["Softmax"]
        }
    }

    private func decode(_ graph: Graph, _ options: ONNXExportOptions = ONNXExportOptions()) throws -> Onnx_ModelProto {
        try Onnx_ModelProto(serializedBytes: ONNXExport.data(graph, options: options))
    }

    private func node(_ model: Onnx_ModelProto, _ name: String) throws -> Onnx_NodeProto {
        try XCTUnwrap(model.graph.node.first { $0.name == name }, "no node \(name)")
    }

    private func attributes(_ node: Onnx_NodeProto) -> [String: Onnx_AttributeProto] {
        Dictionary(uniqueKeysWithValues: node.attribute.map { ($0.name, $0) })
    }

    private func initializer(_ model: Onnx_ModelProto, _ name: String) throws -> Onnx_TensorProto {
        try XCTUnwrap(model.graph.initializer.first { $0.name == name }, "no initializer \(name)")
    }

    private func dims(_ info: Onnx_ValueInfoProto) -> [String] {
        info.type.tensorType.shape.dim.map { dimension in
            switch dimension.value {
            case let .dimParam(name): return name
            case let .dimValue(size): return String(size)
            case nil: return "?"
            }
        }
    }

    func testModelHeaderInputsAndOutputs() throws {
        let model = try decode(try everyOpGraph())
        XCTAssertEqual(model.irVersion, 8)
        XCTAssertEqual(model.producerName, "pare")
        XCTAssertEqual(model.opsetImport.map(\.version), [17])
        XCTAssertEqual(model.opsetImport.map(\.domain), [""])
        XCTAssertEqual(model.graph.input.map(\.name), ["input"])
        XCTAssertEqual(model.graph.output.map(\.name), ["output_0", "output_1"])
        XCTAssertEqual(model.graph.input[0].type.tensorType.elemType, Int32(Onnx_TensorProto.DataType.float.rawValue))

        let older = try decode(try everyOpGraph(), ONNXExportOptions(opset: 14))
        XCTAssertEqual(older.irVersion, 7)
        XCTAssertEqual(older.opsetImport.map(\.version), [14])
    }

    /// By default the batch axis of every input and output is the symbolic `batch`
    /// (`dim_param`, no `dim_value`); `staticBatch` writes a number there instead.
    func testBatchDimensionIsSymbolicUnlessFixed() throws {
        let graph = try everyOpGraph()
        let dynamic = try decode(graph)
        XCTAssertEqual(dynamic.graph.input.map(dims), [["batch", "3", "16", "16"]])
        XCTAssertEqual(dynamic.graph.output.map(dims), [["batch", "5"], ["batch", "16", "9", "10"]])
        for info in dynamic.graph.input + dynamic.graph.output {
            let batch = try XCTUnwrap(info.type.tensorType.shape.dim.first, info.name)
            XCTAssertEqual(batch.value, .dimParam("batch"), "\(info.name): the batch is dim_param, not dim_value")
        }

        let fixed = try decode(graph, ONNXExportOptions(staticBatch: 4))
        XCTAssertEqual(fixed.graph.input.map(dims), [["4", "3", "16", "16"]])
        XCTAssertEqual(fixed.graph.output.map(dims), [["4", "5"], ["4", "16", "9", "10"]])
        for info in fixed.graph.input + fixed.graph.output {
            let batch = try XCTUnwrap(info.type.tensorType.shape.dim.first, info.name)
            XCTAssertEqual(batch.value, .dimValue(4), info.name)
        }
    }

    func testEveryOpBecomesItsONNXOperators() throws {
        let graph = try everyOpGraph()
        let model = try decode(graph)
        XCTAssertEqual(model.graph.node.map(\.opType), graph.nodes.flatMap { expectedOpTypes($0.op) })

        // Every node input is the graph input, an initializer or an earlier node's output.
        var defined = Set(model.graph.input.map(\.name) + model.graph.initializer.map(\.name))
        for node in model.graph.node {
            for input in node.input { XCTAssertTrue(defined.contains(input), "\(node.name) reads undefined \(input)") }
            for output in node.output { XCTAssertTrue(defined.insert(output).inserted, "\(output) defined twice") }
        }
        for output in model.graph.output { XCTAssertTrue(defined.contains(output.name), "output \(output.name) undefined") }
    }

    func testAttributes() throws {
        let model = try decode(try everyOpGraph())
        let conv = attributes(try node(model, "conv"))
        XCTAssertEqual(conv["kernel_shape"]?.ints, [3, 3])
        XCTAssertEqual(conv["strides"]?.ints, [1, 1])
        XCTAssertEqual(conv["pads"]?.ints, [1, 0, 1, 2], "ONNX pads are [top, left, bottom, right]")
        XCTAssertEqual(conv["dilations"]?.ints, [2, 1])
        XCTAssertEqual(conv["group"]?.i, 1)
        XCTAssertEqual(try node(model, "conv").input, ["input", "conv.weight", "conv.bias"])
        XCTAssertEqual(attributes(try node(model, "grouped"))["group"]?.i, 4)
        XCTAssertEqual(try node(model, "grouped").input.count, 2, "a conv without bias has no bias input")

        let bn = try node(model, "bn")
        XCTAssertEqual(bn.input, ["conv", "bn.weight", "bn.bias", "bn.running_mean", "bn.running_var"])
        XCTAssertEqual(try XCTUnwrap(attributes(bn)["epsilon"]?.f), 1e-5, accuracy: 1e-12)
        XCTAssertEqual(try XCTUnwrap(attributes(bn)["momentum"]?.f), 0.9, accuracy: 1e-7)

        let clip = try XCTUnwrap(model.graph.node.first { $0.opType == "Clip" })
        XCTAssertEqual(clip.input.count, 3)
        XCTAssertEqual(try initializer(model, clip.input[1]).rawData, Data(bytes: [Float(0)], count: 4))
        XCTAssertEqual(try initializer(model, clip.input[2]).rawData, Data(bytes: [Float(6)], count: 4))
        XCTAssertEqual(try initializer(model, clip.input[2]).dims, [])

        let maxPool = attributes(try XCTUnwrap(model.graph.node.first { $0.opType == "MaxPool" }))
        XCTAssertEqual(maxPool["kernel_shape"]?.ints, [2, 2])
        XCTAssertEqual(maxPool["strides"]?.ints, [2, 2])
        XCTAssertEqual(maxPool["pads"]?.ints, [0, 0, 0, 0])
        XCTAssertEqual(maxPool["ceil_mode"]?.i, 1)
        let averagePool = attributes(try XCTUnwrap(model.graph.node.first { $0.opType == "AveragePool" }))
        XCTAssertEqual(averagePool["kernel_shape"]?.ints, [3, 3])
        XCTAssertEqual(averagePool["strides"]?.ints, [2, 2])
        XCTAssertEqual(averagePool["pads"]?.ints, [1, 1, 1, 1])
        XCTAssertEqual(averagePool["ceil_mode"]?.i, 0)
        XCTAssertEqual(averagePool["count_include_pad"]?.i, 0)

        // The per-channel PReLU's slope [8] is reshaped to [8, 1, 1]; the rest is the channel shuffle.
        let slopeReshape = try node(model, "act.reshape_slope")
        XCTAssertEqual(slopeReshape.input[0], "act.weight")
        XCTAssertEqual(try initializer(model, slopeReshape.input[1]).int64Data, [8, 1, 1])
        XCTAssertEqual(try node(model, "act").input[1], slopeReshape.output[0])
        let reshapes = model.graph.node.filter { $0.opType == "Reshape" && $0.name.hasPrefix("channelShuffle") }
        XCTAssertEqual(try reshapes.map { try initializer(model, $0.input[1]).int64Data }, [[0, 4, 4, 9, 10], [0, 16, 9, 10]])
        let transpose = try XCTUnwrap(model.graph.node.first { $0.opType == "Transpose" })
        XCTAssertEqual(attributes(transpose)["perm"]?.ints, [0, 2, 1, 3, 4])
        XCTAssertEqual(transpose.input, reshapes[0].output)
        XCTAssertEqual(reshapes[1].input[0], transpose.output[0])

        let slice = try XCTUnwrap(model.graph.node.first { $0.opType == "Slice" })
        XCTAssertEqual(try slice.input.dropFirst().map { try initializer(model, $0).int64Data }, [[4], [12], [1]])
        XCTAssertEqual(slice.input[0], reshapes[1].output[0])

        let gemm = try node(model, "fc")
        XCTAssertEqual(gemm.input.dropFirst(), ["fc.weight", "fc.bias"])
        XCTAssertEqual(attributes(gemm)["transB"]?.i, 1)
        for type in ["Concat", "Flatten", "Softmax"] {
            let node = try XCTUnwrap(model.graph.node.first { $0.opType == type })
            XCTAssertEqual(attributes(node)["axis"]?.i, 1, type)
        }
    }

    func testInitializersKeepStateDictNamesShapesAndValues() throws {
        let graph = try everyOpGraph()
        let model = try decode(graph)
        let exported = Dictionary(uniqueKeysWithValues: model.graph.initializer.map { ($0.name, $0) })
        let expected = graph.parameters.keys.filter { !$0.hasSuffix("num_batches_tracked") }
        for name in expected {
            let tensor = graph.parameters[name]!
            let proto = try XCTUnwrap(exported[name], "parameter \(name) not exported")
            XCTAssertEqual(proto.dims, tensor.shape.dimensions.map(Int64.init), name)
            XCTAssertEqual(proto.dataType, Int32(Onnx_TensorProto.DataType.float.rawValue), name)
            XCTAssertEqual(proto.rawData, Data(bytes: tensor.storage.pointer, count: tensor.byteCount), name)
        }
        XCTAssertFalse(exported.keys.contains { $0.hasSuffix("num_batches_tracked") })

        // A zoo model: every exported parameter has its torchvision name.
        let resnet = try decode(try Zoo.build("resnet18-cifar"))
        let names = Set(resnet.graph.initializer.map(\.name))
        for name in ["conv1.weight", "bn1.running_var", "layer1.0.conv1.weight", "layer2.0.downsample.0.weight",
                     "layer2.0.downsample.1.running_mean", "fc.weight", "fc.bias"] {
            XCTAssertTrue(names.contains(name), "missing \(name)")
        }
    }

    func testUnsupportedOpsetAndBatchAreErrors() throws {
        let graph = try everyOpGraph()
        for opset in [11, 13, 22] {
            XCTAssertThrowsError(try ONNXExport.data(graph, options: ONNXExportOptions(opset: opset))) { error in
                XCTAssertEqual(error as? ONNXExportError, .unsupportedOpset(opset))
                XCTAssertTrue("\(error)".contains("opsets 14 to 21"), "\(error)")
            }
        }
        XCTAssertThrowsError(try ONNXExport.data(graph, options: ONNXExportOptions(staticBatch: 0))) { error in
            XCTAssertEqual(error as? ONNXExportError, .invalidBatch(0))
        }
        var broken = graph
        broken.parameters["conv.weight"] = nil
        XCTAssertThrowsError(try ONNXExport.data(broken)) { error in
            XCTAssertTrue("\(error)".contains("conv.weight"), "\(error)")
        }
    }

    func testWritesAFile() throws {
        let url = try temporaryDirectory(self).appendingPathComponent("tiny.onnx")
        let graph = try Zoo.build("tiny-residual")
        try ONNXExport.write(graph, to: url)
        let model = try Onnx_ModelProto(serializedBytes: Data(contentsOf: url))
        XCTAssertEqual(model.graph.output.map(\.name), ["output"])
        XCTAssertEqual(model.graph.name, "tiny-residual")
        XCTAssertEqual(model.metadataProps.map(\.key), ["model"])
    }
}
