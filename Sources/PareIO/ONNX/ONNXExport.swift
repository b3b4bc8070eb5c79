import Foundation
import PareCore
import SwiftProtobuf

/// Writes a ``Graph`` as a standard ONNX model, op for op, in evaluation form.
///
/// Every ``Op`` maps to `ai.onnx` operators: `conv2d` to `Conv`, `batchNorm` to
/// `BatchNormalization` (running statistics), `relu6` to `Clip(0, 6)`, `linear` to
/// `Gemm(transB=1)`, `channelShuffle` to `Reshape [N, g, C/g, H, W]` + `Transpose` +
/// `Reshape [N, C, H, W]`, `channelSlice` to `Slice` on axis 1, `dropout` to `Identity`, and
/// the rest to the operator of the same name. Initializers keep the state-dict names
/// (`layer1.0.conv1.weight`); `num_batches_tracked`, which inference does not read, is left
/// out. The graph input is `input` (`input_k` for several) with shape `[N, C, H, W]`; the
/// outputs are `output` (`output_k` for several). N is the symbolic dimension `batch` unless
/// ``ONNXExportOptions/staticBatch`` fixes it.
public enum ONNXExport {
    /// The serialized `ModelProto` for `graph`.
    public static func data(_ graph: Graph, options: ONNXExportOptions = ONNXExportOptions()) throws -> Data {
        try modelProto(graph, options: options).serializedData()
    }

    /// Writes the ONNX file for `graph` to `url`, atomically.
    public static func write(_ graph: Graph, to url: URL, options: ONNXExportOptions = ONNXExportOptions()) throws {
        let bytes = try data(graph, options: options)
        do {
            try writeAtomically(bytes, to: url)
        } catch let error as AtomicWriteError {
            throw ONNXExportError.writeFailed(file: url.path, reason: error.reason)
        }
    }

    /// The `ModelProto` for `graph` (internal: the generated message types are not public).
    static func modelProto(_ graph: Graph, options: ONNXExportOptions) throws -> Onnx_ModelProto {
        guard ONNXExportOptions.supportedOpsets.contains(options.opset) else {
            throw ONNXExportError.unsupportedOpset(options.opset)
        }
        if let batch = options.staticBatch, batch <= 0 { throw ONNXExportError.invalidBatch(batch) }
        let shapes: [Shape]
        do {
            try graph.validate()
            shapes = try graph.inferShapes()
        } catch {
            throw ONNXExportError.invalidGraph(String(describing: error))
        }
        var builder = GraphProtoBuilder(graph: graph, shapes: shapes, options: options)
        builder.translate()

        var model = Onnx_ModelProto()
        model.irVersion = options.irVersion
        model.producerName = "pare"
        model.graph = builder.proto
        var opset = Onnx_OperatorSetIdProto()
        opset.domain = ""
        opset.version = Int64(options.opset)
        model.opsetImport = [opset]
        for (key, value) in graph.metadata.sorted(by: { $0.key < $1.key }) {
            var entry = Onnx_StringStringEntryProto()
            entry.key = key
            entry.value = value
            model.metadataProps.append(entry)
        }
        return model
    }
}

/// Builds the `GraphProto` of one export: value names, nodes, initializers.
private struct GraphProtoBuilder {
    let graph: Graph
    let shapes: [Shape]
    let options: ONNXExportOptions
    var proto = Onnx_GraphProto()
    /// The ONNX value name of each node's output.
    private var values: [String] = []
    private var usedNames = Set<String>()
    private var initializerNames = Set<String>()

    init(graph: Graph, shapes: [Shape], options: ONNXExportOptions) {
        self.graph = graph
        self.shapes = shapes
        self.options = options
        proto.name = graph.metadata["model"] ?? "pare"
    }

    mutating func translate() {
        nameValues()
        for (index, node) in graph.nodes.enumerated() {
            translate(node, index: index)
        }
        declareOutputs()
    }

    // MARK: Values

    /// `input`/`input_k` for the inputs, `output`/`output_k` for the node producing each
    /// output (when it is no input and no earlier output), the node's name for the rest.
    private mutating func nameValues() {
        let inputs = graph.inputIndices
        var names = [String?](repeating: nil, count: graph.nodes.count)
        for (k, index) in inputs.enumerated() {
            names[index] = inputs.count == 1 ? "input" : "input_\(k)"
        }
        for (k, index) in graph.outputs.enumerated() where names[index] == nil {
            names[index] = outputName(k)
        }
        usedNames = Set(names.compactMap { $0 })
        for (key, _) in graph.parameters { usedNames.insert(key) }
        values = graph.nodes.indices.map { index in
            if let name = names[index] { return name }
            return uniqueName(graph.nodes[index].name.isEmpty ? "node\(index)" : graph.nodes[index].name)
        }
        for index in inputs {
            proto.input.append(valueInfo(values[index], shape: shapes[index]))
        }
    }

    private func outputName(_ k: Int) -> String { graph.outputs.count == 1 ? "output" : "output_\(k)" }

    private mutating func uniqueName(_ base: String) -> String {
        var name = base
        var suffix = 1
        while usedNames.contains(name) {
            name = "\(base)_\(suffix)"
            suffix += 1
        }
        usedNames.insert(name)
        return name
    }

    /// A graph output whose node output is already named otherwise (an input, or an output
    /// listed twice) gets its name through an `Identity`.
    private mutating func declareOutputs() {
        for (k, index) in graph.outputs.enumerated() {
            let name = outputName(k)
            if values[index] != name {
                addNode("Identity", name: name, inputs: [values[index]], output: name)
            }
            proto.output.append(valueInfo(name, shape: shapes[index]))
        }
    }

    private func valueInfo(_ name: String, shape: Shape) -> Onnx_ValueInfoProto {
        var batch = Onnx_TensorShapeProto.Dimension()
        if let size = options.staticBatch { batch.dimValue = Int64(size) } else { batch.dimParam = "batch" }
        var tensorShape = Onnx_TensorShapeProto()
        tensorShape.dim = [batch] + shape.dimensions.map { size in
            var dimension = Onnx_TensorShapeProto.Dimension()
            dimension.dimValue = Int64(size)
            return dimension
        }
        var tensorType = Onnx_TypeProto.Tensor()
        tensorType.elemType = Int32(Onnx_TensorProto.DataType.float.rawValue)
        tensorType.shape = tensorShape
        var info = Onnx_ValueInfoProto()
        info.name = name
        info.type.tensorType = tensorType
        return info
    }

    // MARK: Nodes

    /// Node `index` in ONNX. In an int8 model (QDQ form, as onnxruntime's own quantiser
    /// writes it): 8-bit weights enter through a per-channel `DequantizeLinear`, and an output
    /// with an activation quantisation leaves through `QuantizeLinear` → `DequantizeLinear`
    /// with its scale and zero point, so the f32 ops between compute what Pare's int8 model
    /// computes (its fake-quantised simulation).
    private mutating func translate(_ node: Node, index: Int) {
        let quantizedOutput = node.quantization?.output
        if case .input = node.op {
            if let q = quantizedOutput {
                values[index] = quantizeDequantize(values[index], q, name: node.name.isEmpty ? values[index] : node.name,
                                                   output: uniqueName("\(values[index])_dequantized"))
            }
            return
        }
        let final = values[index]
        // The op writes a temporary name when its output is re-quantised after it.
        if quantizedOutput != nil { values[index] = uniqueName("\(final)_prequant") }
        translateOp(node, index: index)
        if let q = quantizedOutput {
            _ = quantizeDequantize(values[index], q, name: node.name, output: final)
            values[index] = final
        }
    }

    /// `QuantizeLinear(x)` → `DequantizeLinear` into `output`.
    private mutating func quantizeDequantize(_ x: String, _ q: ActivationQuantization, name: String, output: String) -> String {
        let scale = constant(uniqueName("\(name).output_scale"), Tensor(repeating: q.scale, shape: []))
        let zero = Tensor(zeros: [], dtype: q.dtype)
        if q.dtype == .u8 {
            zero.storage.pointer.assumingMemoryBound(to: UInt8.self).pointee = UInt8(q.zeroPoint)
        } else {
            zero.storage.pointer.assumingMemoryBound(to: Int8.self).pointee = Int8(q.zeroPoint)
        }
        let zeroPoint = constant(uniqueName("\(name).output_zero_point"), zero)
        let quantized = uniqueName("\(name).quantized")
        addNode("QuantizeLinear", name: "\(name).quantize", inputs: [x, scale, zeroPoint], output: quantized)
        addNode("DequantizeLinear", name: "\(name).dequantize", inputs: [quantized, scale, zeroPoint], output: output)
        return output
    }

    /// The weight input of a convolution or linear layer: the initializer, or for 8-bit
    /// weights their per-output-channel `DequantizeLinear` (axis 0, zero points 0).
    private mutating func weight(_ node: Node) -> String {
        guard let weights = node.quantization?.weights else { return parameter(node, "weight") }
        let scales = graph.parameters[node.parameterName("weight_scale")]!
        let channels = scales.elementCount
        // 7-bit weights of a layer with signed input are stored doubled (even values up to
        // ±126, half the scale) for oneDNN, which halves them on CPUs without VNNI. Other
        // runtimes multiply them as they are and can saturate AVX2's 16-bit pair sums: write
        // the same real weights as 7-bit levels (exact: the values are even).
        let stored = graph.parameters[node.parameterName("weight")]!
        let values = UnsafeBufferPointer(start: stored.storage.pointer.assumingMemoryBound(to: Int8.self), count: stored.elementCount)
        let q: String, scale: String
        if weights.bits == 7, values.contains(where: { abs(Int($0)) > 63 }), values.allSatisfy({ $0 % 2 == 0 }) {
            let halved = Tensor(zeros: stored.shape, dtype: .i8)
            let h = halved.storage.pointer.assumingMemoryBound(to: Int8.self)
            for k in values.indices { h[k] = values[k] / 2 }
            let doubledScales = Tensor(zeros: scales.shape)
            for k in 0..<channels { doubledScales.floats[k] = scales.floats[k] * 2 }
            q = constant(uniqueName("\(node.parameterName("weight"))_7bit"), halved)
            scale = constant(uniqueName("\(node.parameterName("weight_scale"))_7bit"), doubledScales)
        } else {
            q = parameter(node, "weight")
            scale = parameter(node, "weight_scale")
        }
        let zeroPoint = constant(uniqueName("\(node.parameterName("weight_zero_point"))"), Tensor(zeros: [channels], dtype: .i8))
        let output = uniqueName("\(node.parameterName("weight"))_dequantized")
        addNode("DequantizeLinear", name: "\(node.name).weight.dequantize", inputs: [q, scale, zeroPoint], output: output,
                attributes: [.int("axis", 0)])
        return output
    }

    private mutating func translateOp(_ node: Node, index: Int) {
        let x = node.inputs.map { values[$0] }
        let y = values[index]
        let name = node.name
        switch node.op {
        case .input:
            break
        case let .conv2d(a):
            var inputs = x + [weight(node)]
            if a.bias { inputs.append(parameter(node, "bias")) }
            addNode("Conv", name: name, inputs: inputs, output: y, attributes: [
                .ints("kernel_shape", a.kernelSize), .ints("strides", a.stride),
                .ints("pads", pads(a.padding)), .ints("dilations", a.dilation), .int("group", a.groups),
            ])
        case let .batchNorm(a):
            let inputs = x + ["weight", "bias", "running_mean", "running_var"].map { parameter(node, $0) }
            // ONNX keeps `momentum` of the running statistics; PyTorch's is of the batch's.
            addNode("BatchNormalization", name: name, inputs: inputs, output: y, attributes: [
                .float("epsilon", Float(a.eps)), .float("momentum", Float(1 - a.momentum)),
            ])
        case .relu:
            addNode("Relu", name: name, inputs: x, output: y)
        case .relu6:
            let bounds = [constant("pare.relu6.min", Tensor(repeating: 0, shape: [])),
                          constant("pare.relu6.max", Tensor(repeating: 6, shape: []))]
            addNode("Clip", name: name, inputs: x + bounds, output: y)
        case .hardSwish:
            addNode("HardSwish", name: name, inputs: x, output: y)
        case .sigmoid:
            addNode("Sigmoid", name: name, inputs: x, output: y)
        case let .leakyRelu(negativeSlope):
            addNode("LeakyRelu", name: name, inputs: x, output: y, attributes: [.float("alpha", Float(negativeSlope))])
        case let .prelu(perChannel):
            // The slope keeps its state-dict shape [C]; it broadcasts from the right, so for
            // [N, C, ...] it is reshaped to [C, 1, ...] (as torch.onnx unsqueezes it).
            var slope = parameter(node, "weight")
            if perChannel {
                let shape = int64Constant("\(name).slope_shape", [shapes[index][0]] + [Int](repeating: 1, count: shapes[index].rank - 1))
                let reshaped = uniqueName("\(name).slope")
                addNode("Reshape", name: "\(name).reshape_slope", inputs: [slope, shape], output: reshaped)
                slope = reshaped
            }
            addNode("PRelu", name: name, inputs: x + [slope], output: y)
        case let .elu(alpha):
            addNode("Elu", name: name, inputs: x, output: y, attributes: [.float("alpha", Float(alpha))])
        case .tanh:
            addNode("Tanh", name: name, inputs: x, output: y)
        case .silu:
            // ONNX has no SiLU operator before opset 24: x * Sigmoid(x), as torch.onnx writes it.
            let sigmoid = uniqueName("\(name).sigmoid")
            addNode("Sigmoid", name: "\(name).sigmoid", inputs: x, output: sigmoid)
            addNode("Mul", name: name, inputs: x + [sigmoid], output: y)
        case .hardSigmoid:
            addNode("HardSigmoid", name: name, inputs: x, output: y,
                    attributes: [.float("alpha", Float(1.0 / 6)), .float("beta", 0.5)])
        case let .localResponseNorm(a):
            addNode("LRN", name: name, inputs: x, output: y, attributes: [
                .int("size", a.size), .float("alpha", Float(a.alpha)), .float("beta", Float(a.beta)), .float("bias", Float(a.k)),
            ])
        case let .pad(a):
            let p = a.padding
            let pads = int64Constant("\(name).pads", [0, 0, p.top, p.left, 0, 0, p.bottom, p.right])
            addNode("Pad", name: name, inputs: x + [pads], output: y,
                    attributes: [.string("mode", a.mode == .reflect ? "reflect" : "edge")])
        case let .maxPool(a):
            addNode("MaxPool", name: name, inputs: x, output: y, attributes: [
                .ints("kernel_shape", a.kernelSize), .ints("strides", a.stride),
                .ints("pads", pads(a.padding)), .int("ceil_mode", a.ceilMode ? 1 : 0),
            ])
        case let .avgPool(a):
            addNode("AveragePool", name: name, inputs: x, output: y, attributes: [
                .ints("kernel_shape", a.kernelSize), .ints("strides", a.stride),
                .ints("pads", pads(a.padding)), .int("ceil_mode", a.ceilMode ? 1 : 0),
                .int("count_include_pad", a.countIncludePad ? 1 : 0),
            ])
        case .globalAvgPool:
            addNode("GlobalAveragePool", name: name, inputs: x, output: y)
        case let .linear(a):
            var inputs = x + [weight(node)]
            if a.bias { inputs.append(parameter(node, "bias")) }
            addNode("Gemm", name: name, inputs: inputs, output: y, attributes: [.int("transB", 1)])
        case .add:
            addNode("Add", name: name, inputs: x, output: y)
        case .mul:
            addNode("Mul", name: name, inputs: x, output: y)
        case .concat:
            addNode("Concat", name: name, inputs: x, output: y, attributes: [.int("axis", 1)])
        case let .channelShuffle(groups):
            // [N, C, H, W] -> [N, g, C/g, H, W] -> transposed -> [N, C, H, W]; 0 copies N.
            let (c, h, w) = (shapes[index][0], shapes[index][1], shapes[index][2])
            let grouped = uniqueName("\(name).grouped")
            let transposed = uniqueName("\(name).transposed")
            let groupedShape = int64Constant("\(name).grouped_shape", [0, groups, c / groups, h, w])
            let flatShape = int64Constant("\(name).shape", [0, c, h, w])
            addNode("Reshape", name: "\(name).reshape_grouped", inputs: x + [groupedShape], output: grouped)
            addNode("Transpose", name: "\(name).transpose", inputs: [grouped], output: transposed,
                    attributes: [.ints("perm", [0, 2, 1, 3, 4])])
            // The reshape that produces the output carries the node's name, as every other op does.
            addNode("Reshape", name: name, inputs: [transposed, flatShape], output: y)
        case let .channelSlice(start, count):
            let inputs = x + [int64Constant("\(name).starts", [start]), int64Constant("\(name).ends", [start + count]),
                              int64Constant("\(name).axes", [1])]
            addNode("Slice", name: name, inputs: inputs, output: y)
        case .flatten:
            addNode("Flatten", name: name, inputs: x, output: y, attributes: [.int("axis", 1)])
        case .unflatten:
            // [N, F] -> [N, F, 1, 1]; 0 copies N.
            let shape = int64Constant("\(name).shape", [0, shapes[index][0], 1, 1])
            addNode("Reshape", name: name, inputs: x + [shape], output: y)
        case .dropout:
            // Evaluation form: dropout is the identity.
            addNode("Identity", name: name, inputs: x, output: y)
        case .softmax:
            addNode("Softmax", name: name, inputs: x, output: y, attributes: [.int("axis", 1)])
        }
    }

    private func pads(_ p: Padding2d) -> [Int] { [p.top, p.left, p.bottom, p.right] }

    private mutating func addNode(_ opType: String, name: String, inputs: [String], output: String,
                                  attributes: [Attribute] = []) {
        var node = Onnx_NodeProto()
        node.opType = opType
        node.name = name
        node.input = inputs
        node.output = [output]
        node.attribute = attributes.map(\.proto)
        proto.node.append(node)
    }

    // MARK: Initializers

    /// The name of parameter `suffix` of `node`, added as an initializer on first use.
    private mutating func parameter(_ node: Node, _ suffix: String) -> String {
        let name = node.parameterName(suffix)
        if initializerNames.insert(name).inserted {
            proto.initializer.append(tensorProto(name, graph.parameters[name]!))
        }
        return name
    }

    /// An exporter-made constant, added once under `name`.
    private mutating func constant(_ name: String, _ tensor: Tensor) -> String {
        if initializerNames.insert(name).inserted {
            usedNames.insert(name)
            proto.initializer.append(tensorProto(name, tensor))
        }
        return name
    }

    /// A 1-D int64 constant named after `base` (made unique).
    private mutating func int64Constant(_ base: String, _ values: [Int]) -> String {
        let name = uniqueName(base)
        initializerNames.insert(name)
        var tensor = Onnx_TensorProto()
        tensor.name = name
        tensor.dataType = Int32(Onnx_TensorProto.DataType.int64.rawValue)
        tensor.dims = [Int64(values.count)]
        tensor.int64Data = values.map(Int64.init)
        proto.initializer.append(tensor)
        return name
    }

    private func tensorProto(_ name: String, _ tensor: Tensor) -> Onnx_TensorProto {
        var result = Onnx_TensorProto()
        result.name = name
        result.dims = tensor.shape.dimensions.map(Int64.init)
        result.dataType = Int32(Self.dataType(tensor.dtype).rawValue)
        // raw_data is little-endian, as Pare's storage is on every platform it runs on.
        result.rawData = Data(bytes: tensor.storage.pointer, count: tensor.byteCount)
        return result
    }

    private static func dataType(_ dtype: DType) -> Onnx_TensorProto.DataType {
        switch dtype {
        case .f32: return .float
        case .bf16: return .bfloat16
        case .f16: return .float16
        case .i8: return .int8
        case .u8: return .uint8
        case .i32: return .int32
        case .i64: return .int64
        }
    }
}

/// One ONNX node attribute.
private enum Attribute {
    case int(String, Int)
    case ints(String, [Int])
    case float(String, Float)
    case string(String, String)

    var proto: Onnx_AttributeProto {
        var attribute = Onnx_AttributeProto()
        switch self {
        case let .int(name, value):
            attribute.name = name
            attribute.type = .int
            attribute.i = Int64(value)
        case let .ints(name, values):
            attribute.name = name
            attribute.type = .ints
            attribute.ints = values.map(Int64.init)
        case let .float(name, value):
            attribute.name = name
            attribute.type = .float
            attribute.f = value
        case let .string(name, value):
            attribute.name = name
            attribute.type = .string
            attribute.s = Data(value.utf8)
        }
        return attribute
    }
}
