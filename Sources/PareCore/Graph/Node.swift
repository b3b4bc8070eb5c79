/// One operation of a ``Graph``. Its output is referred to by the node's index.
///
/// `name` is the PyTorch module path (`layer1.0.conv1`); the node's parameters are stored in
/// the graph under `name + "." + suffix` (`layer1.0.conv1.weight`), as in a state dict.
public struct Node: Hashable, Sendable {
    public var name: String
    public var op: Op
    /// Indices of the nodes whose outputs this node consumes (all earlier in the graph).
    public var inputs: [Int]
    /// How the node is stored and run in an int8 model (nil in an f32 model).
    public var quantization: NodeQuantization?

    public init(name: String, op: Op, inputs: [Int], quantization: NodeQuantization? = nil) {
        self.name = name
        self.op = op
        self.inputs = inputs
        self.quantization = quantization
    }

    /// The node's parameters given its input shapes: the op's, except that a node with
    /// quantised weights stores `weight` as `i8` and adds one f32 `weight_scale` per output
    /// channel.
    public func parameterSpecs(inputs shapes: [Shape]) -> [ParameterSpec] {
        let specs = op.parameterSpecs(inputs: shapes)
        guard quantization?.weights != nil else { return specs }
        var result: [ParameterSpec] = []
        for spec in specs {
            if spec.suffix == "weight" {
                result.append(ParameterSpec(suffix: "weight", shape: spec.shape, role: .quantizedWeight))
                result.append(ParameterSpec(suffix: "weight_scale", shape: [spec.shape[0]], role: .weightScale))
            } else {
                result.append(spec)
            }
        }
        return result
    }

    /// The state-dict name of one of this node's parameters.
    public func parameterName(_ suffix: String) -> String {
        name.isEmpty ? suffix : name + "." + suffix
    }
}

// JSON form: {"name": "layer1.0.conv1", "op": "conv2d", "inputs": [3], "attributes": {...}}
extension Node: Codable {
    private enum CodingKeys: String, CodingKey { case name, op, inputs, attributes, quantization }
    private struct ShapeAttribute: Codable { var shape: Shape }
    private struct GroupsAttribute: Codable { var groups: Int }
    private struct DropoutAttribute: Codable { var p: Double }
    private struct SliceAttribute: Codable { var start: Int; var count: Int }
    private struct NegativeSlopeAttribute: Codable { var negativeSlope: Double }
    private struct AlphaAttribute: Codable { var alpha: Double }
    private struct PReLUAttribute: Codable { var perChannel: Bool }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decode(String.self, forKey: .name)
        inputs = try c.decode([Int].self, forKey: .inputs)
        quantization = try c.decodeIfPresent(NodeQuantization.self, forKey: .quantization)
        let kind = try c.decode(String.self, forKey: .op)
        switch kind {
        case "input": op = .input(shape: try c.decode(ShapeAttribute.self, forKey: .attributes).shape)
        case "conv2d": op = .conv2d(try c.decode(Conv2dAttributes.self, forKey: .attributes))
        case "batchNorm": op = .batchNorm(try c.decode(BatchNormAttributes.self, forKey: .attributes))
        case "relu": op = .relu
        case "relu6": op = .relu6
        case "hardSwish": op = .hardSwish
        case "sigmoid": op = .sigmoid
        case "leakyRelu": op = .leakyRelu(negativeSlope: try c.decode(NegativeSlopeAttribute.self, forKey: .attributes).negativeSlope)
        case "prelu": op = .prelu(perChannel: try c.decode(PReLUAttribute.self, forKey: .attributes).perChannel)
        case "elu": op = .elu(alpha: try c.decode(AlphaAttribute.self, forKey: .attributes).alpha)
        case "tanh": op = .tanh
        case "silu": op = .silu
        case "hardSigmoid": op = .hardSigmoid
        case "localResponseNorm": op = .localResponseNorm(try c.decode(LRNAttributes.self, forKey: .attributes))
        case "pad": op = .pad(try c.decode(PadAttributes.self, forKey: .attributes))
        case "maxPool": op = .maxPool(try c.decode(Pool2dAttributes.self, forKey: .attributes))
        case "avgPool": op = .avgPool(try c.decode(Pool2dAttributes.self, forKey: .attributes))
        case "globalAvgPool": op = .globalAvgPool
        case "linear": op = .linear(try c.decode(LinearAttributes.self, forKey: .attributes))
        case "add": op = .add
        case "mul": op = .mul
        case "concat": op = .concat
        case "channelShuffle": op = .channelShuffle(groups: try c.decode(GroupsAttribute.self, forKey: .attributes).groups)
        case "channelSlice":
            let a = try c.decode(SliceAttribute.self, forKey: .attributes)
            op = .channelSlice(start: a.start, count: a.count)
        case "flatten": op = .flatten
        case "unflatten": op = .unflatten
        case "dropout": op = .dropout(p: try c.decode(DropoutAttribute.self, forKey: .attributes).p)
        case "softmax": op = .softmax
        default:
            throw DecodingError.dataCorruptedError(
                forKey: .op, in: c,
                debugDescription: "unknown op '\(kind)' in node '\(name)'")
        }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(name, forKey: .name)
        try c.encode(op.kind, forKey: .op)
        try c.encode(inputs, forKey: .inputs)
        try c.encodeIfPresent(quantization, forKey: .quantization)
        switch op {
        case let .input(shape): try c.encode(ShapeAttribute(shape: shape), forKey: .attributes)
        case let .conv2d(a): try c.encode(a, forKey: .attributes)
        case let .batchNorm(a): try c.encode(a, forKey: .attributes)
        case let .maxPool(a), let .avgPool(a): try c.encode(a, forKey: .attributes)
        case let .linear(a): try c.encode(a, forKey: .attributes)
        case let .localResponseNorm(a): try c.encode(a, forKey: .attributes)
        case let .pad(a): try c.encode(a, forKey: .attributes)
        case let .channelShuffle(groups): try c.encode(GroupsAttribute(groups: groups), forKey: .attributes)
        case let .dropout(p): try c.encode(DropoutAttribute(p: p), forKey: .attributes)
        case let .channelSlice(start, count): try c.encode(SliceAttribute(start: start, count: count), forKey: .attributes)
        case let .leakyRelu(negativeSlope): try c.encode(NegativeSlopeAttribute(negativeSlope: negativeSlope), forKey: .attributes)
        case let .prelu(perChannel): try c.encode(PReLUAttribute(perChannel: perChannel), forKey: .attributes)
        case let .elu(alpha): try c.encode(AlphaAttribute(alpha: alpha), forKey: .attributes)
        case .relu, .relu6, .hardSwish, .sigmoid, .tanh, .silu, .hardSigmoid, .globalAvgPool, .add, .mul, .concat, .flatten,
             .unflatten, .softmax:
            break
        }
    }
}
