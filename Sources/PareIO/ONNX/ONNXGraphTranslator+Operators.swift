import PareCore

extension ONNXGraphTranslator {
    /// Operators translated on activations (``ConstantFolding/operators`` are evaluated when
    /// all their inputs are constants).
    static let operators: Set<String> = [
        "Add", "AveragePool", "BatchNormalization", "Clip", "Concat", "Constant", "Conv", "Div", "Dropout", "Elu", "Flatten",
        "Gemm", "GlobalAveragePool", "HardSigmoid", "HardSwish", "Identity", "LeakyRelu", "LRN", "MatMul", "MaxPool", "Mul", "PRelu",
        "Pad", "ReduceMean", "Relu", "Reshape", "Shape", "Sigmoid", "Slice", "Softmax", "Split", "Squeeze", "Sub", "Sum",
        "Tanh", "Transpose", "Unsqueeze",
    ]

    /// Translates ``current``.
    mutating func translateCurrent() throws {
        let opType = current.opType
        guard current.domain.isEmpty || current.domain == "ai.onnx" else {
            throw failure(.unsupportedOperator(node: displayName, opType: opType, domain: current.domain, opset: opset))
        }
        if opType == "Constant" { return defineOutput(0, .constant(try constantAttribute())) }
        if opType == "Shape" { return try shape() }

        var inputs = try current.input.indices.map { try value($0) }
        // Opset 6's forms, checked and (legacy broadcasting) rewritten into opset 7's.
        if opset < 7 {
            try checkOpset6Attributes(opType)
            if ["Add", "Sub", "Mul", "Div"].contains(opType), inputs.count == 2, let a = inputs[0], let b = inputs[1] {
                inputs[1] = try legacyBroadcastOperand(opType, a, b)
            }
        }
        // Constant folding: every input present is a constant.
        let constants = inputs.map { value -> ConstantTensor? in
            if case let .constant(tensor)? = value { return tensor }
            return nil
        }
        let allConstant = zip(inputs, constants).allSatisfy { $0 == nil || $1 != nil } && constants.contains { $0 != nil }
        if allConstant && ConstantFolding.operators.contains(opType) {
            let results = try ConstantFolding.evaluate(opType, constants, attributes, limit: foldLimit)
            for (k, result) in results.enumerated() { defineOutput(k, .constant(result)) }
            return
        }

        switch opType {
        case "Identity": try alias()
        case "Dropout":
            if outputIsUsed(1) { throw ImportFailure.unsupported("its mask output is used; Pare reads Dropout as inference-time identity") }
            try alias()
        case "Conv": try convolution()
        case "BatchNormalization": try batchNormalization()
        case "Relu": try unary(.relu)
        case "Sigmoid": try unary(.sigmoid)
        case "HardSwish": try unary(.hardSwish)
        case "Tanh": try unary(.tanh)
        case "LeakyRelu": try unary(.leakyRelu(negativeSlope: decimal(try attributes.float("alpha", default: 0.01))))
        case "Elu": try unary(.elu(alpha: decimal(try attributes.float("alpha", default: 1))))
        case "PRelu": try prelu()
        case "LRN": try localResponseNorm()
        case "Clip": try clip()
        case "HardSigmoid": try hardSigmoid()
        case "Add", "Sub", "Mul", "Div":
            guard inputs.count == 2, let a = inputs[0], let b = inputs[1] else { throw ImportFailure.invalid("\(opType) needs two inputs") }
            try binary(opType, a, b)
        case "Sum": try sum()
        case "MaxPool", "AveragePool": try pool(max: opType == "MaxPool")
        case "GlobalAveragePool":
            try unary(.globalAvgPool)
        case "ReduceMean": try reduceMean()
        case "Flatten": try flatten()
        case "Reshape": try reshape()
        case "Squeeze", "Unsqueeze": try squeezeOrUnsqueeze(squeeze: opType == "Squeeze")
        case "Transpose": try transpose()
        case "Concat": try concat()
        case "Split": try split()
        case "Slice": try slice()
        case "Gemm": try gemm()
        case "MatMul": try matMul()
        case "Softmax": try softmax()
        case "Pad": try pad()
        default:
            if ConstantFolding.operators.contains(opType) {
                throw ImportFailure.unsupported("\(opType) is read on constants only (shape arithmetic), "
                                                + "but an input here is an activation")
            }
            throw failure(.unsupportedOperator(node: displayName, opType: opType, domain: current.domain, opset: opset))
        }
    }

    // MARK: Constants and shapes

    private func constantAttribute() throws -> ConstantTensor {
        if let tensor = try attributes.tensor("value") { return try ConstantTensor(proto: tensor) }
        if let value = try attributes.float("value_float") { return ConstantTensor(shape: [], floats: [value]) }
        if let values = try attributes.floats("value_floats") { return ConstantTensor(shape: [values.count], floats: values) }
        if let value = try attributes.int("value_int") { return ConstantTensor(shape: [], ints: [value]) }
        if let values = try attributes.ints("value_ints") { return ConstantTensor(shape: [values.count], ints: values) }
        throw ImportFailure.unsupported("a Constant with attributes \(attributes.names); Pare reads value, value_float(s) and value_int(s)")
    }

    private mutating func shape() throws {
        guard let input = try value(0) else { throw ImportFailure.invalid("Shape without an input") }
        let full = onnxShape(input)
        let rank = full.count
        func clamp(_ axis: Int) -> Int { min(max(axis < 0 ? axis + rank : axis, 0), rank) }
        let start = clamp(try attributes.int("start", default: 0))
        let end = clamp(try attributes.int("end") ?? rank)
        let dims = start < end ? Array(full[start..<end]) : []
        defineOutput(0, .constant(ConstantTensor(shape: [dims.count], integers: dims)))
    }

    // MARK: Element-wise

    private mutating func alias() throws {
        guard let input = try value(0) else { throw ImportFailure.invalid("no input") }
        defineOutput(0, input)
    }

    private mutating func unary(_ op: Op) throws {
        let x = try activation(0)
        defineOutput(0, .node(try appendNode(op, inputs: [x], name: nodeName(kind: op.kind))))
    }

    private mutating func clip() throws {
        let x = try activation(0)
        func bound(_ k: Int, _ name: String, _ fallback: Float) throws -> Float {
            if let value = try attributes.float(name) { return value }
            guard let tensor = try optionalConstant(k, "\(name) bound") else { return fallback }
            guard tensor.elementCount == 1, let value = tensor.floatValues?.first else {
                throw ImportFailure.unsupported("the \(name) bound must be a scalar")
            }
            return value
        }
        let low = try bound(1, "min", -.infinity)
        let high = try bound(2, "max", .infinity)
        let op: Op
        switch (low, high) {
        case (0, 6): op = .relu6
        case (0, .infinity): op = .relu
        default: throw ImportFailure.unsupported("Clip(\(low), \(high)); Pare reads Clip(0, 6) as relu6 and Clip(0, inf) as relu")
        }
        defineOutput(0, .node(try appendNode(op, inputs: [x], name: nodeName(kind: op.kind))))
    }

    private mutating func hardSigmoid() throws {
        let x = try activation(0)
        let alpha = try attributes.float("alpha", default: 0.2)
        let beta = try attributes.float("beta", default: 0.5)
        guard abs(alpha - 1 / 6) < 1e-6, beta == 0.5 else {
            throw ImportFailure.unsupported("HardSigmoid(alpha \(alpha), beta \(beta)); Pare reads HardSigmoid only with "
                                            + "alpha 1/6 and beta 1/2 (PyTorch's Hardsigmoid)")
        }
        defineOutput(0, .node(try appendNode(.hardSigmoid, inputs: [x], name: nodeName(kind: "hardSigmoid"))))
    }

    /// `PRelu(x, slope)` with a constant slope: one value (shared) or one per channel
    /// (`[C, 1, 1]`, `[1, C, 1, 1]`, or `[C]` on a flat activation; before opset 7, whose
    /// PRelu has no numpy broadcasting, a `[C]` slope is per channel on any input).
    private mutating func prelu() throws {
        let x = try activation(0)
        let slope = try constant(1, "slope")
        let shape = shapes[x]
        let perChannel = slope.elementCount != 1
        let legacyPerChannel = opset < 7 && slope.rank == 1 && slope.elementCount == shape[0]
        guard let values = slope.floatValues, !perChannel || legacyPerChannel || perChannelValues(slope, shape: shape) != nil else {
            throw ImportFailure.unsupported("PRelu with a slope of shape \(slope.shape) on an activation of shape "
                                            + "[N, \(shape.dimensions.map(String.init).joined(separator: ", "))]; Pare reads one slope "
                                            + "per channel or one shared slope")
        }
        let weight = try Tensor(shape: [values.count], values: values)
        let name = nodeName(kind: "prelu", parameterPrefix: statePrefix(inputIndex: 1, suffix: "weight"), hasParameters: true)
        defineOutput(0, .node(try appendNode(.prelu(perChannel: perChannel), inputs: [x], name: name,
                                             parameters: ["weight": weight])))
    }

    /// `LRN` (odd `size`): ONNX's and PyTorch's LRN are the same for odd sizes, alpha divided
    /// by the size in both.
    private mutating func localResponseNorm() throws {
        let x = try activation(0)
        guard let size = try attributes.int("size") else { throw ImportFailure.invalid("LRN without a size") }
        guard size >= 1, size % 2 == 1, size <= maxWindowExtent else {
            throw ImportFailure.unsupported("LRN size \(size); Pare reads odd sizes (for an even size ONNX's window has "
                                            + "one more channel after the centre, PyTorch's one more before)")
        }
        let a = LRNAttributes(size: size, alpha: decimal(try attributes.float("alpha", default: 1e-4)),
                              beta: decimal(try attributes.float("beta", default: 0.75)),
                              k: decimal(try attributes.float("bias", default: 1)))
        defineOutput(0, .node(try appendNode(.localResponseNorm(a), inputs: [x], name: nodeName(kind: "localResponseNorm"))))
    }

    /// Whether node `gate` is `op` applied to node `x` and read by nothing but the node being
    /// translated, so that `x * gate` may become one node in its place.
    private func isSoleGate(_ gate: Int, of x: Int, _ op: Op) -> Bool {
        nodes[gate].op == op && nodes[gate].inputs == [x] && pareUses[gate] == 1
    }

    /// `x * gate` where ``isSoleGate``: the gate node becomes `op` (hard swish, SiLU) in place.
    private mutating func fuseGate(_ gate: Int, of x: Int, into op: Op) {
        nodes[gate].op = op
        nodes[gate].name = nodeName(kind: op.kind)
        usedNames.insert(nodes[gate].name)
        pareUses[gate] = 0
        pareUses[x] -= 1
        defineOutput(0, .node(gate))
    }

    /// `Add`, `Sub`, `Mul`, `Div`: a residual sum of two activations, hard swish, or an
    /// affine map by per-channel constants.
    private mutating func binary(_ opType: String, _ a: ImportedValue, _ b: ImportedValue) throws {
        switch (a, b) {
        case let (.node(x), .node(y)) where opType == "Add":
            defineOutput(0, .node(try appendNode(.add, inputs: [x, y], name: nodeName(kind: "add"))))
        case let (.node(x), .node(g)) where opType == "Mul" && isSoleGate(g, of: x, .hardSigmoid),
             let (.node(g), .node(x)) where opType == "Mul" && isSoleGate(g, of: x, .hardSigmoid):
            fuseGate(g, of: x, into: .hardSwish)
        case let (.node(x), .node(g)) where opType == "Mul" && isSoleGate(g, of: x, .sigmoid),
             let (.node(g), .node(x)) where opType == "Mul" && isSoleGate(g, of: x, .sigmoid):
            fuseGate(g, of: x, into: .silu)
        case let (.node(x), .node(y)) where opType == "Mul":
            // Pare's mul broadcasts its second input: put a [C, 1, 1] gate second.
            let (lhs, rhs) = shapes[x].elementCount >= shapes[y].elementCount ? (x, y) : (y, x)
            defineOutput(0, .node(try appendNode(.mul, inputs: [lhs, rhs], name: nodeName(kind: "mul"))))
        case let (.node(x), .constant(c)):
            try affine(x, opType, c)
        case let (.constant(c), .node(x)) where opType == "Add" || opType == "Mul":
            try affine(x, opType, c)
        default:
            _ = try activation(0)
            _ = try activation(1)
            throw ImportFailure.unsupported("\(opType) of these inputs; Pare reads Add of two activations (a residual), "
                                            + "Mul of two activations (the same shape, or [C, H, W] by a [C, 1, 1] gate), "
                                            + "and Add/Sub/Mul/Div of an activation by per-channel constants")
        }
    }

    // MARK: Opset 6

    /// Opset 6's forms of the operators whose opset-7 versions dropped an attribute, checked
    /// before translation: `BatchNormalization` and `Dropout` must be in test mode
    /// (`is_test = 1`; a `Dropout` with ratio 0 is the identity either way), and a `Gemm` bias
    /// is one row per output feature only with `broadcast = 1`. The other operators Pare reads
    /// (Conv, MaxPool, AveragePool without `count_include_pad`, Relu, Sigmoid, Concat,
    /// Flatten, GlobalAveragePool, Softmax, Reshape, Sum, Clip with `min`/`max` attributes, ...)
    /// mean the same in opsets 6 and 7. `Add`/`Sub`/`Mul`/`Div` are ``legacyBroadcastOperand``.
    private func checkOpset6Attributes(_ opType: String) throws {
        func refuse(_ attribute: String, _ value: Int, _ reason: String) -> ImportFailure {
            ImportFailure.unsupported("\(opType) in opset \(opset) with attribute \(attribute) = \(value): \(reason)")
        }
        switch opType {
        case "BatchNormalization":
            let isTest = try attributes.int("is_test", default: 0)
            if isTest == 0 {
                throw refuse("is_test", isTest, "normalizes by the batch's own statistics (training mode); "
                             + "Pare reads the test-mode form (is_test = 1), which uses the running statistics")
            }
        case "Dropout":
            let isTest = try attributes.int("is_test", default: 0)
            let ratio = try attributes.float("ratio", default: 0.5)
            if isTest == 0, ratio != 0 {
                throw refuse("is_test", isTest, "drops activations at random (training mode, ratio \(ratio)); "
                             + "Pare reads Dropout as the identity (is_test = 1)")
            }
        case "Gemm":
            let broadcast = try attributes.int("broadcast", default: 0)
            if broadcast == 0, let c = try optionalConstant(2, "bias"), !(c.rank == 2 && c.shape[0] == 1 && fixedBatch == 1) {
                throw refuse("broadcast", broadcast, "C of shape \(c.shape) must be [M, N], one row per sample; Pare reads "
                             + "one bias per output feature (broadcast = 1, or C of shape [1, N] at batch 1)")
            }
        default:
            break
        }
    }

    /// Operand B of an opset-6 `Add`/`Sub`/`Mul`/`Div` in opset 7's (numpy) broadcasting.
    /// Opset 6 broadcasts B to A's shape only with `broadcast = 1`, matching B's dimensions
    /// with A's from `axis` on (or with A's last ones without `axis`); without it A and B
    /// have the same shape. A constant B aligned at an inner `axis` (`[C]` at axis 1 of
    /// `[N, C, H, W]`) is reshaped to the numpy form (`[C, 1, 1]`).
    private func legacyBroadcastOperand(_ opType: String, _ a: ImportedValue, _ b: ImportedValue) throws -> ImportedValue {
        let broadcast = try attributes.int("broadcast", default: 0)
        let shapeA = onnxShape(a)
        let shapeB = onnxShape(b)
        func text(_ shape: [SymbolicInteger]) -> String { "[\(shape.map(\.description).joined(separator: ", "))]" }
        guard broadcast != 0 else {
            // The batch axis may be written as a number in a constant and as N in an activation.
            let same = shapeA.count == shapeB.count && zip(shapeA, shapeB).dropFirst().allSatisfy { $0 == $1 }
            guard same else {
                throw ImportFailure.unsupported("\(opType) in opset \(opset) with attribute broadcast = 0 needs A and B of "
                                                + "the same shape; A is \(text(shapeA)), B is \(text(shapeB))")
            }
            return b
        }
        guard shapeB.count <= shapeA.count else {
            throw ImportFailure.invalid("broadcast = 1 with B \(text(shapeB)) of higher rank than A \(text(shapeA))")
        }
        guard let rawAxis = try attributes.int("axis") else { return b }
        let axis = try ConstantFolding.normalizeAxis(rawAxis, rank: shapeA.count)
        guard axis + shapeB.count <= shapeA.count else {
            throw ImportFailure.invalid("broadcast axis \(rawAxis) puts B \(text(shapeB)) past the end of A \(text(shapeA))")
        }
        let trailing = shapeA.count - axis - shapeB.count
        if trailing == 0 { return b }
        guard case var .constant(c) = b else {
            throw ImportFailure.unsupported("\(opType) in opset \(opset) with attribute axis = \(rawAxis) aligns an activation B "
                                            + "\(text(shapeB)) with inner dimensions of A \(text(shapeA)); Pare reads that for a constant B only")
        }
        c.shape += [Int](repeating: 1, count: trailing)
        return .constant(c)
    }

    private mutating func sum() throws {
        let xs = try current.input.indices.map { try activation($0) }
        guard var result = xs.first else { throw ImportFailure.invalid("Sum of nothing") }
        for x in xs.dropFirst() { result = try appendNode(.add, inputs: [result, x], name: nodeName(kind: "add")) }
        defineOutput(0, .node(result))
    }

    /// `x op c` for a constant `c` that is one value per channel (or one value): folded into
    /// the batch norm producing `x` or, for a shift, into the bias of the conv or linear
    /// producing it, when `x` has no other use; otherwise a new batch norm computing it.
    private mutating func affine(_ x: Int, _ opType: String, _ c: ConstantTensor) throws {
        let shape = shapes[x]
        guard let perChannel = perChannelValues(c, shape: shape) else {
            throw ImportFailure.unsupported("\(opType) by a constant of shape \(c.shape) on an activation of shape "
                                            + "[N, \(shape.dimensions.map(String.init).joined(separator: ", "))]; "
                                            + "Pare reads one value per channel (or a scalar)")
        }
        var scale: [Float]?
        var shift: [Float]?
        switch opType {
        case "Mul": scale = perChannel
        case "Div": scale = perChannel.map { 1 / $0 }
        case "Add": shift = perChannel
        default: shift = perChannel.map { -$0 }
        }
        let alone = pareUses[x] == 1
        // Folding consumes this op's use of x; the uses of its output then count for x.
        if alone { pareUses[x] = 0 }
        switch nodes[x].op {
        case .batchNorm where alone:
            let gamma = parameters[nodes[x].parameterName("weight")]!.floats
            let beta = parameters[nodes[x].parameterName("bias")]!.floats
            for i in 0..<shape[0] {
                if let scale {
                    gamma[i] *= scale[i]
                    beta[i] *= scale[i]
                }
                if let shift { beta[i] += shift[i] }
            }
            return defineOutput(0, .node(x))
        case var .conv2d(attributes) where alone && shift != nil:
            attributes.bias = true
            nodes[x].op = .conv2d(attributes)
            addBias(x, shift!)
            return defineOutput(0, .node(x))
        case var .linear(attributes) where alone && shift != nil:
            attributes.bias = true
            nodes[x].op = .linear(attributes)
            addBias(x, shift!)
            return defineOutput(0, .node(x))
        case .input, .conv2d, .batchNorm, .relu, .relu6, .hardSwish, .sigmoid, .leakyRelu, .prelu, .elu, .tanh, .silu,
             .hardSigmoid, .localResponseNorm, .pad, .mul, .maxPool, .avgPool, .globalAvgPool,
             .linear, .add, .concat, .channelShuffle, .channelSlice, .flatten, .unflatten, .dropout, .softmax:
            if alone { pareUses[x] = 1 }
        }
        let channels = shape[0]
        let tensors: [String: Tensor] = [
            "weight": try Tensor(shape: [channels], values: scale ?? [Float](repeating: 1, count: channels)),
            "bias": try Tensor(shape: [channels], values: shift ?? [Float](repeating: 0, count: channels)),
            "running_mean": Tensor(zeros: [channels]),
            "running_var": Tensor(repeating: Float(1 - affineBatchNormEpsilon), shape: [channels]),
        ]
        let index = try appendNode(.batchNorm(BatchNormAttributes(eps: affineBatchNormEpsilon)), inputs: [x],
                                   name: nodeName(kind: "batchNorm", hasParameters: true), parameters: tensors)
        defineOutput(0, .node(index))
    }

    /// Adds `shift` to the bias of node `x` (creating a zero bias first if it has none).
    private mutating func addBias(_ x: Int, _ shift: [Float]) {
        let name = nodes[x].parameterName("bias")
        let bias = parameters[name] ?? Tensor(zeros: [shift.count])
        let values = bias.floats
        for i in values.indices { values[i] += shift[i] }
        parameters[name] = bias
    }

    /// The constant as one value per channel of an activation of per-sample `shape`
    /// (broadcast from the right as ONNX does: `[C, 1, 1]`, `[1, C, 1, 1]`, a scalar; `[F]`
    /// for a flat activation), or nil.
    private func perChannelValues(_ c: ConstantTensor, shape: Shape) -> [Float]? {
        let rank = shape.rank + 1
        guard c.rank <= rank, let values = c.floatValues else { return nil }
        let aligned = [Int](repeating: 1, count: rank - c.rank) + c.shape
        let channels = shape[0]
        for (axis, size) in aligned.enumerated() where size != 1 && !(axis == 1 && size == channels) { return nil }
        return aligned[1] == channels ? values : [Float](repeating: values[0], count: channels)
    }

    // MARK: Layers

    /// The activation feeding a window op, with padding from a `Pad` before it.
    private func windowInput() throws -> (node: Int, padding: Padding2d) {
        if case let .padded(index, padding)? = try value(0) { return (index, padding) }
        return (try activation(0), Padding2d(0))
    }

    /// `pads` ([top, left, bottom, right]) from `pads` or `auto_pad` for a window on a
    /// `height x width` input.
    private func windowPadding(kernel: [Int], stride: [Int], dilation: [Int], height: Int, width: Int) throws -> Padding2d {
        let autoPad = try attributes.string("auto_pad") ?? "NOTSET"
        switch autoPad {
        case "NOTSET":
            let pads = try attributes.ints("pads") ?? [0, 0, 0, 0]
            guard pads.count == 4, pads.allSatisfy({ $0 >= 0 && $0 <= maxWindowExtent }) else {
                throw ImportFailure.unsupported("pads \(pads); Pare needs 4 non-negative values")
            }
            return Padding2d(top: pads[0], left: pads[1], bottom: pads[2], right: pads[3])
        case "VALID":
            return Padding2d(0)
        case "SAME_UPPER", "SAME_LOWER":
            func split(_ size: Int, _ axis: Int) -> (Int, Int) {
                let out = (size + stride[axis] - 1) / stride[axis]
                let total = max((out - 1) * stride[axis] + (kernel[axis] - 1) * dilation[axis] + 1 - size, 0)
                return autoPad == "SAME_UPPER" ? (total / 2, total - total / 2) : (total - total / 2, total / 2)
            }
            let (top, bottom) = split(height, 0)
            let (left, right) = split(width, 1)
            return Padding2d(top: top, left: left, bottom: bottom, right: right)
        default:
            throw ImportFailure.invalid("auto_pad '\(autoPad)'")
        }
    }

    /// A 2-D window attribute (`strides`, `dilations`): two positive values.
    private func pair(_ name: String, default value: Int) throws -> [Int] {
        let values = try attributes.ints(name) ?? [value, value]
        guard values.count == 2 else { throw ImportFailure.unsupported("\(name) \(values); Pare's windows are 2-D") }
        guard values.allSatisfy({ $0 > 0 && $0 <= maxWindowExtent }) else { throw ImportFailure.invalid("\(name) \(values)") }
        return values
    }

    private mutating func convolution() throws {
        let (x, extra) = try windowInput()
        let weight = try constant(1, "weight")
        guard weight.rank == 4 else {
            throw ImportFailure.unsupported("a \(max(weight.rank - 2, 0))-D convolution; Pare has 2-D convolutions only")
        }
        let bias = try optionalConstant(2, "bias")
        let groups = try attributes.int("group", default: 1)
        let kernel = try attributes.ints("kernel_shape") ?? Array(weight.shape[2...])
        guard kernel == Array(weight.shape[2...]), kernel.allSatisfy({ $0 > 0 && $0 <= maxWindowExtent }) else {
            throw ImportFailure.invalid("kernel_shape \(kernel) differs from the weight's \(weight.shape)")
        }
        let stride = try pair("strides", default: 1)
        let dilation = try pair("dilations", default: 1)
        let input = shapes[x]
        guard input.rank == 3 else { throw ImportFailure.unsupported("input of shape [N, \(input)]; Pare convolves [N, C, H, W]") }
        var padding = try windowPadding(kernel: kernel, stride: stride, dilation: dilation,
                                        height: input[1] + extra.top + extra.bottom, width: input[2] + extra.left + extra.right)
        padding = Padding2d(top: padding.top + extra.top, left: padding.left + extra.left,
                            bottom: padding.bottom + extra.bottom, right: padding.right + extra.right)
        guard groups >= 1, groups <= input[0], weight.shape[1] * groups == input[0] else {
            throw ImportFailure.invalid("weight \(weight.shape) with group \(groups) does not fit \(input[0]) input channels")
        }
        if let bias, bias.elementCount != weight.shape[0] {
            throw ImportFailure.invalid("bias of shape \(bias.shape) for \(weight.shape[0]) output channels")
        }
        guard let weightTensor = weight.tensor() else { throw ImportFailure.invalid("the weight depends on the batch size") }
        var tensors = ["weight": weightTensor]
        if let bias {
            guard let biasTensor = bias.tensor(shape: [weight.shape[0]]) else { throw ImportFailure.invalid("symbolic bias") }
            tensors["bias"] = biasTensor
        }
        let attributes = Conv2dAttributes(outChannels: weight.shape[0], kernelSize: kernel, stride: stride, padding: padding,
                                          dilation: dilation, groups: groups, bias: bias != nil)
        let name = nodeName(kind: "conv2d", parameterPrefix: statePrefix(inputIndex: 1, suffix: "weight"), hasParameters: true)
        defineOutput(0, .node(try appendNode(.conv2d(attributes), inputs: [x], name: name, parameters: tensors)))
    }

    private mutating func batchNormalization() throws {
        let x = try activation(0)
        if try attributes.int("training_mode", default: 0) != 0 || (1..<5).contains(where: outputIsUsed) {
            throw ImportFailure.unsupported("training-mode BatchNormalization; export the model in evaluation mode (model.eval())")
        }
        if try attributes.int("spatial", default: 1) != 1 {
            throw ImportFailure.unsupported("BatchNormalization in opset \(opset) with attribute spatial = 0: statistics per "
                                            + "element rather than per channel; Pare's batch norm is per channel (spatial = 1)")
        }
        let channels = shapes[x][0]
        var tensors: [String: Tensor] = [:]
        for (k, suffix) in [(1, "weight"), (2, "bias"), (3, "running_mean"), (4, "running_var")] {
            let c = try constant(k, suffix)
            guard c.elementCount == channels, let tensor = c.tensor(shape: [channels]) else {
                throw ImportFailure.invalid("\(suffix) of shape \(c.shape) for \(channels) channels")
            }
            tensors[suffix] = tensor
        }
        let eps = decimal(try attributes.float("epsilon", default: 1e-5))
        // ONNX's momentum weighs the running statistics, PyTorch's (and Pare's) the batch's.
        let momentum = decimal(Float(1 - decimal(try attributes.float("momentum", default: 0.9))))
        let name = nodeName(kind: "batchNorm", parameterPrefix: statePrefix(inputIndex: 1, suffix: "weight"), hasParameters: true)
        let index = try appendNode(.batchNorm(BatchNormAttributes(eps: eps, momentum: momentum)), inputs: [x], name: name,
                                   parameters: tensors)
        defineOutput(0, .node(index))
    }

    private mutating func pool(max isMax: Bool) throws {
        let (x, extra) = try windowInput()
        let input = shapes[x]
        guard input.rank == 3 else { throw ImportFailure.unsupported("input of shape [N, \(input)]; Pare pools [N, C, H, W]") }
        guard let kernel = try attributes.ints("kernel_shape"), kernel.count == 2,
              kernel.allSatisfy({ $0 > 0 && $0 <= maxWindowExtent }) else {
            throw ImportFailure.unsupported("kernel_shape \((try? attributes.ints("kernel_shape")) ?? nil ?? []); Pare's windows are 2-D")
        }
        let stride = try pair("strides", default: 1)
        guard try pair("dilations", default: 1) == [1, 1] else { throw ImportFailure.unsupported("dilated pooling") }
        if isMax {
            guard try attributes.int("storage_order", default: 0) == 0 else { throw ImportFailure.unsupported("storage_order 1") }
            if outputIsUsed(1) { throw ImportFailure.unsupported("its indices output is used") }
        }
        let includePadAttribute = try attributes.int("count_include_pad", default: 0)
        var countIncludePad = isMax || includePadAttribute != 0
        var padding = try windowPadding(kernel: kernel, stride: stride, dilation: [1, 1],
                                        height: input[1] + extra.top + extra.bottom, width: input[2] + extra.left + extra.right)
        if extra != Padding2d(0) {
            // A Pad's zeros are data: they count in an average, and a max pool would see them.
            guard !isMax else { throw ImportFailure.unsupported(pendingReason(.padded(x, extra))) }
            guard countIncludePad || padding == Padding2d(0) else {
                throw ImportFailure.unsupported("a Pad before an AveragePool that leaves its own padding out of the average")
            }
            countIncludePad = true
            padding = Padding2d(top: padding.top + extra.top, left: padding.left + extra.left,
                                bottom: padding.bottom + extra.bottom, right: padding.right + extra.right)
        }
        let attributes = Pool2dAttributes(kernelSize: kernel, stride: stride, padding: padding,
                                          ceilMode: try attributes.int("ceil_mode", default: 0) != 0,
                                          countIncludePad: countIncludePad)
        let op: Op = isMax ? .maxPool(attributes) : .avgPool(attributes)
        defineOutput(0, .node(try appendNode(op, inputs: [x], name: nodeName(kind: op.kind))))
    }

    private mutating func reduceMean() throws {
        let x = try activation(0)
        let rank = shapes[x].rank + 1
        let axes = try attributes.ints("axes") ?? optionalConstant(1, "axes").map {
            guard let ints = $0.intValues else { throw ImportFailure.invalid("symbolic axes") }
            return ints
        }
        guard let axes, try Set(axes.map { try ConstantFolding.normalizeAxis($0, rank: rank) }) == [2, 3], rank == 4 else {
            throw ImportFailure.unsupported("ReduceMean over axes \(String(describing: try? attributes.ints("axes"))) of a rank-\(rank) "
                                            + "tensor; Pare reads the mean over H and W of [N, C, H, W] (global average pooling)")
        }
        var result = try appendNode(.globalAvgPool, inputs: [x], name: nodeName(kind: "globalAvgPool"))
        if try attributes.int("keepdims", default: 1) == 0 {
            result = try appendNode(.flatten, inputs: [result], name: nodeName(kind: "flatten"))
        }
        defineOutput(0, .node(result))
    }

    private mutating func softmax() throws {
        let x = try activation(0)
        let rank = shapes[x].rank + 1
        let axis = try ConstantFolding.normalizeAxis(try attributes.int("axis", default: opset < 13 ? 1 : -1), rank: rank)
        guard rank == 2, axis == 1 else {
            throw ImportFailure.unsupported("Softmax on axis \(axis) of a rank-\(rank) tensor; Pare has softmax over the "
                                            + "features of [N, F]")
        }
        defineOutput(0, .node(try appendNode(.softmax, inputs: [x], name: nodeName(kind: "softmax"))))
    }

    private mutating func gemm() throws {
        let x = try activation(0)
        guard try attributes.int("transA", default: 0) == 0 else { throw ImportFailure.unsupported("Gemm with transA = 1") }
        let b = try constant(1, "weight")
        guard b.rank == 2, let values = b.floatValues else { throw ImportFailure.invalid("weight of shape \(b.shape)") }
        let transB = try attributes.int("transB", default: 0) != 0
        let alpha = try attributes.float("alpha", default: 1)
        let beta = try attributes.float("beta", default: 1)
        let (outFeatures, inFeatures) = transB ? (b.shape[0], b.shape[1]) : (b.shape[1], b.shape[0])
        var weight = transB ? values : transposed(values, rows: b.shape[0], columns: b.shape[1])
        if alpha != 1 { weight = weight.map { $0 * alpha } }
        var bias: [Float]?
        if let c = try optionalConstant(2, "bias") {
            guard let cValues = c.floatValues, c.elementCount == outFeatures || c.elementCount == 1,
                  c.shape.dropLast().allSatisfy({ $0 == 1 }) else {
                throw ImportFailure.unsupported("bias C of shape \(c.shape); Pare reads one value per output feature")
            }
            bias = (0..<outFeatures).map { cValues[c.elementCount == 1 ? 0 : $0] * beta }
        }
        try linear(x, weight: weight, outFeatures: outFeatures, inFeatures: inFeatures, bias: bias,
                   prefix: statePrefix(inputIndex: 1, suffix: "weight"))
    }

    private mutating func matMul() throws {
        let x = try activation(0)
        let b = try constant(1, "weight")
        guard b.rank == 2, let values = b.floatValues else {
            throw ImportFailure.unsupported("MatMul by a constant of shape \(b.shape); Pare reads [N, F] x [F, M] as linear")
        }
        try linear(x, weight: transposed(values, rows: b.shape[0], columns: b.shape[1]), outFeatures: b.shape[1],
                   inFeatures: b.shape[0], bias: nil, prefix: statePrefix(inputIndex: 1, suffix: "weight"))
    }

    private mutating func linear(_ x: Int, weight: [Float], outFeatures: Int, inFeatures: Int, bias: [Float]?, prefix: String?) throws {
        guard shapes[x].rank == 1 else {
            throw ImportFailure.unsupported("input of shape [N, \(shapes[x])]; Pare's linear takes [N, F] (flatten first)")
        }
        guard shapes[x][0] == inFeatures else {
            throw ImportFailure.invalid("weight for \(inFeatures) input features on \(shapes[x][0]) features")
        }
        var tensors = ["weight": try Tensor(shape: [outFeatures, inFeatures], values: weight)]
        if let bias { tensors["bias"] = try Tensor(shape: [outFeatures], values: bias) }
        let name = nodeName(kind: "linear", parameterPrefix: prefix, hasParameters: true)
        let op = Op.linear(LinearAttributes(outFeatures: outFeatures, bias: bias != nil))
        defineOutput(0, .node(try appendNode(op, inputs: [x], name: name, parameters: tensors)))
    }

    private func transposed(_ values: [Float], rows: Int, columns: Int) -> [Float] {
        var result = [Float](repeating: 0, count: values.count)
        for r in 0..<rows {
            for c in 0..<columns { result[c * rows + r] = values[r * columns + c] }
        }
        return result
    }

    // MARK: Shape ops

    private mutating func flatten() throws {
        let x = try activation(0)
        let axis = try ConstantFolding.normalizeAxis(try attributes.int("axis", default: 1), rank: shapes[x].rank + 1)
        guard axis == 1 else { throw ImportFailure.unsupported("Flatten at axis \(axis); Pare flattens [N, ...] to [N, F]") }
        try flattenOrAlias(x)
    }

    private mutating func flattenOrAlias(_ x: Int) throws {
        if shapes[x].rank == 1 { return defineOutput(0, .node(x)) }
        defineOutput(0, .node(try appendNode(.flatten, inputs: [x], name: nodeName(kind: "flatten"))))
    }

    /// The per-sample shape a `Reshape` asks for (its first entry must be the batch).
    private func reshapeTarget(inputShape: Shape) throws -> [Int] {
        let target = try constant(1, "shape").symbolicIntegers
        guard let first = target.first else { throw ImportFailure.unsupported("Reshape to a scalar") }
        let allowZero = try attributes.int("allowzero", default: 0) != 0
        let rest = try target.dropFirst().map { entry -> Int in
            guard let v = entry.value else {
                throw ImportFailure.unsupported("Reshape target \(target) depends on the batch size beyond its first entry")
            }
            return v
        }
        switch first {
        case .batch: break
        case .known(0) where !allowZero: break
        case .known(-1) where !rest.contains(-1): break
        case let .known(n) where n == fixedBatch: break
        case .known, .unknown:
            throw ImportFailure.unsupported("Reshape target \(target) does not keep the batch dimension first")
        }
        return try ConstantFolding.resolveReshape(inputShape.dimensions, rest, allowZero: allowZero)
    }

    private mutating func reshape() throws {
        guard let input = try value(0) else { throw ImportFailure.invalid("Reshape without data") }
        switch input {
        case let .node(x):
            let s = shapes[x]
            let target = try reshapeTarget(inputShape: s)
            if target == s.dimensions { return defineOutput(0, .node(x)) }
            if target == [s.elementCount] { return try flattenOrAlias(x) }
            if s.rank == 1, target == [s[0], 1, 1] {
                return defineOutput(0, .node(try appendNode(.unflatten, inputs: [x], name: nodeName(kind: "unflatten"))))
            }
            if s.rank == 3, target.count == 4, target[0] > 0, target[0] * target[1] == s[0], Array(target[2...]) == [s[1], s[2]] {
                return defineOutput(0, .channelGroups(x, groups: target[0]))
            }
            throw ImportFailure.unsupported("Reshape [N, \(s.dimensions.map(String.init).joined(separator: ", "))] to "
                                            + "[N, \(target.map(String.init).joined(separator: ", "))]; Pare reads a Reshape as a "
                                            + "flatten ([N, F]), its inverse ([N, F] to [N, F, 1, 1]), the identity, or as part "
                                            + "of a channel shuffle")
        case let .channelGroups(x, _):
            let target = try reshapeTarget(inputShape: [shapes[x].elementCount])
            guard target == shapes[x].dimensions else { throw ImportFailure.unsupported(pendingReason(input)) }
            defineOutput(0, .node(x))
        case let .transposedChannelGroups(x, groups):
            let target = try reshapeTarget(inputShape: [shapes[x].elementCount])
            guard target == shapes[x].dimensions else { throw ImportFailure.unsupported(pendingReason(input)) }
            let op = Op.channelShuffle(groups: groups)
            defineOutput(0, .node(try appendNode(op, inputs: [x], name: nodeName(kind: op.kind))))
        case .constant, .padded:
            _ = try activation(0)
        }
    }

    /// `Squeeze` of the 1x1 spatial axes of `[N, C, 1, 1]` (a flatten) and `Unsqueeze` of
    /// `[N, F]` to `[N, F, 1, 1]` (an unflatten); axes from the attribute (before opset 13)
    /// or input 1. A squeeze without axes drops every size-1 axis but the batch.
    private mutating func squeezeOrUnsqueeze(squeeze: Bool) throws {
        let x = try activation(0)
        let s = shapes[x]
        let opType = squeeze ? "Squeeze" : "Unsqueeze"
        let given = try attributes.ints("axes") ?? optionalConstant(1, "axes").map {
            guard let ints = $0.intValues else { throw ImportFailure.invalid("symbolic axes") }
            return ints
        }
        // Squeeze's axes count in the input's rank, Unsqueeze's in the output's.
        let rank = squeeze ? s.rank + 1 : s.rank + 1 + (given?.count ?? 0)
        let axes = try Set((given ?? (1...s.rank).filter { s[$0 - 1] == 1 }).map {
            try ConstantFolding.normalizeAxis($0, rank: rank)
        })
        if squeeze, s.rank == 3, s[1] == 1, s[2] == 1, axes == [2, 3] { return try flattenOrAlias(x) }
        if !squeeze, s.rank == 1, axes == [2, 3] {
            return defineOutput(0, .node(try appendNode(.unflatten, inputs: [x], name: nodeName(kind: "unflatten"))))
        }
        throw ImportFailure.unsupported("\(opType) of axes \(axes.sorted()) of [N, \(s.dimensions.map(String.init).joined(separator: ", "))]; "
                                        + "Pare reads Squeeze of the 1x1 axes of [N, C, 1, 1] and Unsqueeze of [N, F] to [N, F, 1, 1]")
    }

    private mutating func transpose() throws {
        guard case let .channelGroups(x, groups)? = try value(0), try attributes.ints("perm") == [0, 2, 1, 3, 4] else {
            throw ImportFailure.unsupported("Transpose with perm \(String(describing: try? attributes.ints("perm"))); Pare reads "
                                            + "Transpose only inside a channel shuffle (perm [0, 2, 1, 3, 4])")
        }
        defineOutput(0, .transposedChannelGroups(x, groups: groups))
    }

    private mutating func concat() throws {
        let xs = try current.input.indices.map { try activation($0) }
        guard let first = xs.first else { throw ImportFailure.invalid("Concat of nothing") }
        let axis = try ConstantFolding.normalizeAxis(try attributes.int("axis") ?? 1, rank: shapes[first].rank + 1)
        guard axis == 1 else { throw ImportFailure.unsupported("Concat on axis \(axis); Pare concatenates channels (axis 1)") }
        if xs.count == 1 { return defineOutput(0, .node(first)) }
        defineOutput(0, .node(try appendNode(.concat, inputs: xs, name: nodeName(kind: "concat"))))
    }

    /// Channels `start ..< start + count` of `x` as output `k` (the input itself when whole);
    /// nothing when the output is unused.
    private mutating func channelSlice(_ x: Int, start: Int, count: Int, output k: Int) throws {
        guard outputIsUsed(k) else { return }
        if start == 0 && count == shapes[x][0] { return defineOutput(k, .node(x)) }
        let op = Op.channelSlice(start: start, count: count)
        defineOutput(k, .node(try appendNode(op, inputs: [x], name: nodeName(kind: op.kind))))
    }

    private mutating func split() throws {
        let x = try activation(0)
        let axis = try ConstantFolding.normalizeAxis(try attributes.int("axis", default: 0), rank: shapes[x].rank + 1)
        guard axis == 1 else { throw ImportFailure.unsupported("Split on axis \(axis); Pare splits channels (axis 1)") }
        let channels = shapes[x][0]
        var sizes = try attributes.ints("split")
        if sizes == nil, let c = try optionalConstant(1, "split") {
            guard let ints = c.intValues else { throw ImportFailure.invalid("symbolic split sizes") }
            sizes = ints
        }
        let outputs = current.output.count
        let resolved = sizes ?? {
            let chunk = (channels + outputs - 1) / max(outputs, 1)
            return (0..<outputs).map { min(chunk, max(channels - $0 * chunk, 0)) }
        }()
        guard resolved.count == outputs, resolved.allSatisfy({ $0 > 0 && $0 <= channels }), resolved.reduce(0, +) == channels else {
            throw ImportFailure.invalid("split sizes \(resolved) for \(channels) channels into \(outputs) outputs")
        }
        var start = 0
        for (k, size) in resolved.enumerated() {
            try channelSlice(x, start: start, count: size, output: k)
            start += size
        }
    }

    private mutating func slice() throws {
        let x = try activation(0)
        let s = shapes[x]
        func ints(_ attribute: String, _ k: Int) throws -> [Int]? {
            if let values = try attributes.ints(attribute) { return values }
            guard let c = try optionalConstant(k, attribute) else { return nil }
            guard let values = c.intValues else { throw ImportFailure.unsupported("\(attribute) depend on the batch size") }
            return values
        }
        guard let starts = try ints("starts", 1), let ends = try ints("ends", 2), starts.count == ends.count else {
            throw ImportFailure.invalid("Slice needs starts and ends of the same length")
        }
        let axes = try ints("axes", 3) ?? Array(0..<starts.count)
        let steps = try ints("steps", 4) ?? [Int](repeating: 1, count: starts.count)
        guard axes.count == starts.count, steps.count == starts.count else { throw ImportFailure.invalid("Slice argument lengths differ") }
        var channelRange = (start: 0, count: s[0])
        for (k, rawAxis) in axes.enumerated() {
            let axis = try ConstantFolding.normalizeAxis(rawAxis, rank: s.rank + 1)
            if axis == 0 {
                guard starts[k] == 0, ends[k] >= Int(Int32.max), steps[k] == 1 else {
                    throw ImportFailure.unsupported("Slice of the batch dimension")
                }
                continue
            }
            let range = try ConstantFolding.sliceRange(start: starts[k], end: ends[k], step: steps[k], size: s[axis - 1])
            if axis == 1 {
                guard range.step == 1, range.count > 0 else {
                    throw ImportFailure.unsupported("Slice of channels with step \(range.step) (\(range.count) channels); "
                                                    + "Pare slices contiguous channels")
                }
                channelRange = (range.start, range.count)
            } else if range.start != 0 || range.step != 1 || range.count != s[axis - 1] {
                throw ImportFailure.unsupported("Slice on axis \(axis); Pare slices channels (axis 1) only")
            }
        }
        try channelSlice(x, start: channelRange.start, count: channelRange.count, output: 0)
    }

    /// `Pad`: zeros are folded into the following `Conv` or `AveragePool`; modes `reflect` and
    /// `edge` are Pare's `pad` (reflection, replication).
    private mutating func pad() throws {
        let mode = try attributes.string("mode") ?? "constant"
        let fill: PaddingMode?
        switch mode {
        case "constant": fill = nil
        case "reflect": fill = .reflect
        case "edge": fill = .replicate
        default: throw ImportFailure.unsupported("Pad mode '\(mode)'; Pare reads constant (zeros), reflect and edge")
        }
        let (x, existing) = fill == nil ? try windowInput() : (try activation(0), Padding2d(0))
        let rank = shapes[x].rank + 1
        guard rank == 4 else { throw ImportFailure.unsupported("Pad of a rank-\(rank) tensor; Pare folds spatial padding of [N, C, H, W]") }
        var pads: [Int]
        if let values = try attributes.ints("pads") {
            pads = values
        } else {
            guard let values = try constant(1, "pads").intValues else { throw ImportFailure.invalid("symbolic pads") }
            pads = values
        }
        let value = fill != nil ? 0 : try attributes.float("value") ?? (try optionalConstant(2, "constant value")?.floatValues?.first ?? 0)
        guard value == 0 else { throw ImportFailure.unsupported("Pad with value \(value); Pare folds zero padding only") }
        if let axesTensor = try optionalConstant(3, "axes") {
            guard let axes = axesTensor.intValues, pads.count == 2 * axes.count else { throw ImportFailure.invalid("Pad axes and pads differ") }
            var full = [Int](repeating: 0, count: 2 * rank)
            for (k, axis) in axes.enumerated() {
                let a = try ConstantFolding.normalizeAxis(axis, rank: rank)
                full[a] = pads[k]
                full[a + rank] = pads[k + axes.count]
            }
            pads = full
        }
        guard pads.count == 8 else { throw ImportFailure.invalid("pads \(pads) for a rank-4 tensor") }
        guard pads[0] == 0, pads[1] == 0, pads[4] == 0, pads[5] == 0,
              pads.allSatisfy({ $0 >= 0 }), (pads + [existing.top, existing.left, existing.bottom, existing.right]).reduce(0, +) <= maxWindowExtent else {
            throw ImportFailure.unsupported("pads \(pads); Pare reads non-negative padding of H and W only")
        }
        if let fill {
            let op = Op.pad(PadAttributes(padding: Padding2d(top: pads[2], left: pads[3], bottom: pads[6], right: pads[7]),
                                          mode: fill))
            return defineOutput(0, .node(try appendNode(op, inputs: [x], name: nodeName(kind: op.kind))))
        }
        defineOutput(0, .padded(x, Padding2d(top: existing.top + pads[2], left: existing.left + pads[3],
                                              bottom: existing.bottom + pads[6], right: existing.right + pads[7])))
    }
}

/// The epsilon of a batch norm that computes a plain per-channel affine map: its running
/// variance is `1 - epsilon`, so `sqrt(variance + epsilon)` is exactly 1 (2^-20 and
/// `1 - 2^-20` are exact in float). Not 0: with epsilon 0 the DNNL executor computed wrong
/// values for such a batch norm on 13 channels between a max pool and two convs (blocked
/// layout, padded channels), while epsilon 1e-20 and the reference kernels were right.
let affineBatchNormEpsilon = 1.0 / 1_048_576

/// The largest kernel, stride, dilation or padding the importer accepts: far beyond any CNN,
/// small enough that window arithmetic cannot overflow on a corrupt file.
let maxWindowExtent = 1 << 20

/// A float attribute as the decimal number it was written as (`1e-05`, not the nearest
/// float's `9.99999974737875e-06`), so values round-trip through ONNX's float attributes.
func decimal(_ value: Float) -> Double {
    Double("\(value)") ?? Double(value)
}
