/// Runs a ``Graph`` forward and backward with the reference kernels (`Kernels/Reference`), in
/// any floating-point type: `Double` for gradient checks, `Float` behind ``ReferenceExecutor``.
///
/// Values are plain row-major arrays of `batchSize * shape.elementCount` elements. Everything
/// is allocated afresh on every pass: this is the test oracle, clarity over speed.
public final class ReferenceGraphRunner<T: BinaryFloatingPoint> {
    public let graph: Graph
    public let batchSize: Int
    public let mode: ExecutionMode
    /// Per-sample output shape of every node.
    public let shapes: [Shape]
    /// Parameters and running statistics by state-dict name (`num_batches_tracked`, an integer
    /// counter, is not kept here). Read at every pass; a training-mode forward pass updates the
    /// running statistics in place.
    public var parameters: [String: [T]]
    /// Draws the dropout masks: every training-mode forward pass draws one mask per dropout
    /// node, in node order, each in row-major element order.
    public var generator: SeededGenerator

    /// Every node's output from the last forward pass.
    public private(set) var values: [[T]] = []
    // What the backward pass needs from the last training-mode forward pass, by node index.
    private var batchMeans: [Int: [T]] = [:]
    private var batchInvstds: [Int: [T]] = [:]
    private var dropoutMasks: [Int: [T]] = [:]
    private var hasTrainingForward = false

    /// A runner over `parameters` (see ``parameters``). Throws if the graph's shapes are invalid.
    public init(graph: Graph, batchSize: Int, mode: ExecutionMode, parameters: [String: [T]], seed: UInt64 = 0) throws {
        precondition(batchSize > 0, "batch size must be positive")
        self.graph = graph
        self.batchSize = batchSize
        self.mode = mode
        self.shapes = try graph.inferShapes()
        self.parameters = parameters
        self.generator = SeededGenerator(seed: seed)
    }

    /// A runner over the graph's own f32 parameters, converted to `T`.
    public convenience init(graph: Graph, batchSize: Int, mode: ExecutionMode, seed: UInt64 = 0) throws {
        try self.init(graph: graph, batchSize: batchSize, mode: mode,
                      parameters: ReferenceGraphRunner.parameterArrays(of: graph), seed: seed)
    }

    /// The graph's f32 parameters and buffers as arrays of `T`, by state-dict name. The 8-bit
    /// weights of a quantised node come dequantised (`weight_scale[o] · q`), so that running an
    /// int8 model here is its fake-quantised f32 simulation.
    public static func parameterArrays(of graph: Graph) -> [String: [T]] {
        var result: [String: [T]] = [:]
        for (name, tensor) in graph.parameters where tensor.dtype == .f32 {
            result[name] = tensor.floats.map { T($0) }
        }
        for (name, tensor) in graph.parameters where tensor.dtype == .i8 && name.hasSuffix("weight") {
            let prefix = name.dropLast("weight".count)
            guard let scales = graph.parameters[prefix + "weight_scale"], scales.dtype == .f32, scales.elementCount > 0 else { continue }
            let q = tensor.storage.pointer.assumingMemoryBound(to: Int8.self)
            let block = tensor.elementCount / scales.elementCount
            let s = scales.floats
            result[name] = (0..<tensor.elementCount).map { T(s[$0 / block] * Float(q[$0])) }
        }
        return result
    }

    // MARK: Forward

    /// Runs the graph on one array per input node (`batchSize * inputShape` elements each) and
    /// returns one array per graph output.
    public func forward(_ inputs: [[T]]) throws -> [[T]] {
        let inputIndices = graph.inputIndices
        guard inputs.count == inputIndices.count else {
            throw ExecutionError.wrongInputCount(expected: inputIndices.count, got: inputs.count)
        }
        for (k, index) in inputIndices.enumerated() where inputs[k].count != batchSize * shapes[index].elementCount {
            throw ExecutionError.wrongInputShape(input: graph.nodes[index].name, expected: shapes[index].prepending(batchSize),
                                                 got: Shape([inputs[k].count]))
        }
        hasTrainingForward = false
        values = []
        batchMeans = [:]
        batchInvstds = [:]
        dropoutMasks = [:]
        for (index, node) in graph.nodes.enumerated() {
            var value = try forwardNode(index, node, inputs: inputs, inputIndices: inputIndices)
            if let quantization = node.quantization?.output {
                // An int8 model stores this output in 8 bits: round it as the int8 kernels do.
                for k in value.indices { value[k] = T(quantization.fakeQuantize(Float(value[k]))) }
            }
            values.append(value)
        }
        hasTrainingForward = mode == .training
        return graph.outputs.map { values[$0] }
    }

    private func forwardNode(_ index: Int, _ node: Node, inputs: [[T]], inputIndices: [Int]) throws -> [T] {
        let n = batchSize
        var output = [T](repeating: 0, count: n * shapes[index].elementCount)
        // Input 0 and its per-sample shape; every op but `input` has one.
        let x = node.inputs.isEmpty ? [] : values[node.inputs[0]]
        let s = node.inputs.isEmpty ? shapes[index] : shapes[node.inputs[0]]
        switch node.op {
        case .input:
            return inputs[inputIndices.firstIndex(of: index)!]
        case let .conv2d(a):
            let weight = try parameter(node, "weight", count: a.outChannels * (s[0] / a.groups) * a.kernelSize[0] * a.kernelSize[1])
            let bias = a.bias ? try parameter(node, "bias", count: a.outChannels) : nil
            referenceConv2dForward(output: &output, input: x, weight: weight, bias: bias,
                                   batch: n, inChannels: s[0], height: s[1], width: s[2], attributes: a)
        case let .batchNorm(a):
            let channels = s[0], spatial = s.elementCount / s[0]
            let weight = try parameter(node, "weight", count: channels)
            let bias = try parameter(node, "bias", count: channels)
            var runningMean = try parameter(node, "running_mean", count: channels)
            var runningVariance = try parameter(node, "running_var", count: channels)
            switch mode {
            case .training:
                guard n * spatial > 1 else {
                    throw ExecutionError.backend(node: node.name, message: "batch norm in training needs more than one value per channel")
                }
                var mean = [T](repeating: 0, count: channels), invstd = [T](repeating: 0, count: channels)
                referenceBatchNormTrainingForward(
                    output: &output, mean: &mean, invstd: &invstd, runningMean: &runningMean,
                    runningVariance: &runningVariance, input: x, weight: weight, bias: bias,
                    batch: n, channels: channels, spatial: spatial, eps: T(a.eps), momentum: T(a.momentum))
                batchMeans[index] = mean
                batchInvstds[index] = invstd
                parameters[node.parameterName("running_mean")] = runningMean
                parameters[node.parameterName("running_var")] = runningVariance
            case .inference:
                referenceBatchNormInferenceForward(
                    output: &output, input: x, weight: weight, bias: bias, runningMean: runningMean,
                    runningVariance: runningVariance, batch: n, channels: channels, spatial: spatial, eps: T(a.eps))
            }
        case .relu:
            referenceReluForward(output: &output, input: x)
        case .relu6:
            referenceRelu6Forward(output: &output, input: x)
        case .hardSwish:
            referenceHardSwishForward(output: &output, input: x)
        case .sigmoid:
            referenceSigmoidForward(output: &output, input: x)
        case let .leakyRelu(negativeSlope):
            referenceLeakyReluForward(output: &output, input: x, negativeSlope: T(negativeSlope))
        case let .prelu(perChannel):
            let weight = try parameter(node, "weight", count: perChannel ? s[0] : 1)
            referencePReLUForward(output: &output, input: x, weight: weight, batch: n, channels: s[0],
                                  spatial: s.elementCount / s[0])
        case let .elu(alpha):
            referenceEluForward(output: &output, input: x, alpha: T(alpha))
        case .tanh:
            referenceTanhForward(output: &output, input: x)
        case .silu:
            referenceSiluForward(output: &output, input: x)
        case .hardSigmoid:
            referenceHardSigmoidForward(output: &output, input: x)
        case let .localResponseNorm(a):
            referenceLRNForward(output: &output, input: x, batch: n, channels: s[0], spatial: s[1] * s[2], attributes: a)
        case let .pad(a):
            referencePadForward(output: &output, input: x, planes: n * s[0], height: s[1], width: s[2], attributes: a)
        case let .maxPool(a):
            referenceMaxPool2dForward(output: &output, input: x, batch: n, channels: s[0], height: s[1], width: s[2], attributes: a)
        case let .avgPool(a):
            referenceAvgPool2dForward(output: &output, input: x, batch: n, channels: s[0], height: s[1], width: s[2], attributes: a)
        case .globalAvgPool:
            referenceGlobalAvgPoolForward(output: &output, input: x, batch: n, channels: s[0], spatial: s[1] * s[2])
        case let .linear(a):
            let weight = try parameter(node, "weight", count: a.outFeatures * s[0])
            let bias = a.bias ? try parameter(node, "bias", count: a.outFeatures) : nil
            referenceLinearForward(output: &output, input: x, weight: weight, bias: bias,
                                   batch: n, inFeatures: s[0], outFeatures: a.outFeatures)
        case .add:
            referenceAddForward(output: &output, lhs: x, rhs: values[node.inputs[1]])
        case .mul:
            let r = shapes[node.inputs[1]]
            referenceMulForward(output: &output, lhs: x, rhs: values[node.inputs[1]], batch: n, channels: s[0],
                                spatial: s.elementCount / s[0], rhsSpatial: r.elementCount / r[0])
        case .concat:
            referenceConcatForward(output: &output, inputs: node.inputs.map { values[$0] },
                                   channels: node.inputs.map { shapes[$0][0] }, batch: n, inner: s.elementCount / s[0])
        case let .channelShuffle(groups):
            referenceChannelShuffleForward(output: &output, input: x, batch: n, channels: s[0], spatial: s[1] * s[2], groups: groups)
        case let .channelSlice(start, count):
            referenceChannelSliceForward(output: &output, input: x, batch: n, channels: s[0],
                                         spatial: s.elementCount / s[0], start: start, count: count)
        case .flatten, .unflatten:
            referenceFlattenForward(output: &output, input: x)
        case let .dropout(p):
            switch mode {
            case .training:
                let mask: [T] = referenceDropoutMask(count: x.count, p: p, generator: &generator)
                referenceDropoutForward(output: &output, input: x, mask: mask, p: p)
                dropoutMasks[index] = mask
            case .inference:
                output = x
            }
        case .softmax:
            referenceSoftmaxForward(output: &output, input: x, batch: n, features: s[0])
        }
        return output
    }

    private func parameter(_ node: Node, _ suffix: String, count: Int) throws -> [T] {
        let name = node.parameterName(suffix)
        guard let value = parameters[name] else { throw GraphError.missingParameter(node: node.name, parameter: name) }
        guard value.count == count else {
            throw GraphError.invalidGraph("parameter '\(name)' has \(value.count) elements, expected \(count)")
        }
        return value
    }

    // MARK: Backward

    /// Backpropagates one gradient per graph output through the last training-mode forward
    /// pass. Returns the gradient of every trainable parameter (zero for parameters the outputs
    /// do not depend on) and of every graph input.
    public func backward(_ outputGradients: [[T]]) throws -> (parameterGradients: [String: [T]], inputGradients: [[T]]) {
        guard mode == .training, hasTrainingForward else { throw ExecutionError.backwardWithoutTrainingForward }
        guard outputGradients.count == graph.outputs.count else {
            throw ExecutionError.wrongInputCount(expected: graph.outputs.count, got: outputGradients.count)
        }
        // Gradient of every node's output, accumulated over its consumers (fan-out).
        var grads = [[T]?](repeating: nil, count: graph.nodes.count)
        func accumulate(_ gradient: [T], into index: Int) {
            if grads[index] == nil {
                grads[index] = gradient
            } else {
                for i in gradient.indices { grads[index]![i] += gradient[i] }
            }
        }
        for (k, output) in graph.outputs.enumerated() {
            guard outputGradients[k].count == values[output].count else {
                throw ExecutionError.wrongInputShape(input: "gradient of output \(k) ('\(graph.nodes[output].name)')",
                                                     expected: shapes[output].prepending(batchSize),
                                                     got: Shape([outputGradients[k].count]))
            }
            accumulate(outputGradients[k], into: output)
        }
        var parameterGradients: [String: [T]] = [:]
        for (name, _, spec) in try graph.parameterSpecs() where spec.role.isTrainable {
            parameterGradients[name] = [T](repeating: 0, count: spec.shape.elementCount)
        }
        var inputGradients: [Int: [T]] = [:]
        for index in graph.nodes.indices.reversed() {
            let node = graph.nodes[index]
            let dOutput = grads[index] ?? [T](repeating: 0, count: values[index].count)
            grads[index] = nil
            if case .input = node.op {
                inputGradients[index] = dOutput
                continue
            }
            let dInputs = try backwardNode(index, node, dOutput: dOutput, parameterGradients: &parameterGradients)
            for (k, input) in node.inputs.enumerated() { accumulate(dInputs[k], into: input) }
        }
        return (parameterGradients, graph.inputIndices.map { inputGradients[$0]! })
    }

    /// The gradients of one node's inputs (one array per input, in order); parameter
    /// gradients are accumulated into `parameterGradients`.
    private func backwardNode(_ index: Int, _ node: Node, dOutput: [T],
                              parameterGradients: inout [String: [T]]) throws -> [[T]] {
        let n = batchSize
        let x = values[node.inputs[0]]
        let s = shapes[node.inputs[0]]
        var dInput = [T](repeating: 0, count: x.count)
        switch node.op {
        case .input:
            preconditionFailure("input nodes have no inputs to backpropagate to")
        case let .conv2d(a):
            let weightName = node.parameterName("weight"), biasName = node.parameterName("bias")
            var dWeight = parameterGradients[weightName]!
            var dBias = a.bias ? parameterGradients[biasName]! : nil
            referenceConv2dBackward(dInput: &dInput, dWeight: &dWeight, dBias: &dBias, dOutput: dOutput, input: x,
                                    weight: parameters[weightName]!, batch: n, inChannels: s[0], height: s[1], width: s[2],
                                    attributes: a)
            parameterGradients[weightName] = dWeight
            if let dBias { parameterGradients[biasName] = dBias }
        case .batchNorm:
            let weightName = node.parameterName("weight"), biasName = node.parameterName("bias")
            var dWeight = parameterGradients[weightName]!, dBias = parameterGradients[biasName]!
            referenceBatchNormBackward(dInput: &dInput, dWeight: &dWeight, dBias: &dBias, dOutput: dOutput, input: x,
                                       weight: parameters[weightName]!, mean: batchMeans[index]!, invstd: batchInvstds[index]!,
                                       batch: n, channels: s[0], spatial: s.elementCount / s[0])
            parameterGradients[weightName] = dWeight
            parameterGradients[biasName] = dBias
        case .relu:
            referenceReluBackward(dInput: &dInput, dOutput: dOutput, input: x)
        case .relu6:
            referenceRelu6Backward(dInput: &dInput, dOutput: dOutput, input: x)
        case .hardSwish:
            referenceHardSwishBackward(dInput: &dInput, dOutput: dOutput, input: x)
        case .sigmoid:
            referenceSigmoidBackward(dInput: &dInput, dOutput: dOutput, output: values[index])
        case let .leakyRelu(negativeSlope):
            referenceLeakyReluBackward(dInput: &dInput, dOutput: dOutput, input: x, negativeSlope: T(negativeSlope))
        case .prelu:
            let weightName = node.parameterName("weight")
            var dWeight = parameterGradients[weightName]!
            referencePReLUBackward(dInput: &dInput, dWeight: &dWeight, dOutput: dOutput, input: x,
                                   weight: parameters[weightName]!, batch: n, channels: s[0], spatial: s.elementCount / s[0])
            parameterGradients[weightName] = dWeight
        case let .elu(alpha):
            referenceEluBackward(dInput: &dInput, dOutput: dOutput, input: x, alpha: T(alpha))
        case .tanh:
            referenceTanhBackward(dInput: &dInput, dOutput: dOutput, output: values[index])
        case .silu:
            referenceSiluBackward(dInput: &dInput, dOutput: dOutput, input: x)
        case .hardSigmoid:
            referenceHardSigmoidBackward(dInput: &dInput, dOutput: dOutput, input: x)
        case let .localResponseNorm(a):
            referenceLRNBackward(dInput: &dInput, dOutput: dOutput, input: x, batch: n, channels: s[0], spatial: s[1] * s[2],
                                 attributes: a)
        case let .pad(a):
            referencePadBackward(dInput: &dInput, dOutput: dOutput, planes: n * s[0], height: s[1], width: s[2], attributes: a)
        case let .maxPool(a):
            referenceMaxPool2dBackward(dInput: &dInput, dOutput: dOutput, input: x, batch: n, channels: s[0],
                                       height: s[1], width: s[2], attributes: a)
        case let .avgPool(a):
            referenceAvgPool2dBackward(dInput: &dInput, dOutput: dOutput, batch: n, channels: s[0],
                                       height: s[1], width: s[2], attributes: a)
        case .globalAvgPool:
            referenceGlobalAvgPoolBackward(dInput: &dInput, dOutput: dOutput, batch: n, channels: s[0], spatial: s[1] * s[2])
        case let .linear(a):
            let weightName = node.parameterName("weight"), biasName = node.parameterName("bias")
            var dWeight = parameterGradients[weightName]!
            var dBias = a.bias ? parameterGradients[biasName]! : nil
            referenceLinearBackward(dInput: &dInput, dWeight: &dWeight, dBias: &dBias, dOutput: dOutput, input: x,
                                    weight: parameters[weightName]!, batch: n, inFeatures: s[0], outFeatures: a.outFeatures)
            parameterGradients[weightName] = dWeight
            if let dBias { parameterGradients[biasName] = dBias }
        case .add:
            var dRhs = [T](repeating: 0, count: x.count)
            referenceAddBackward(dLhs: &dInput, dRhs: &dRhs, dOutput: dOutput)
            return [dInput, dRhs]
        case .mul:
            let rhs = values[node.inputs[1]], r = shapes[node.inputs[1]]
            var dRhs = [T](repeating: 0, count: rhs.count)
            referenceMulBackward(dLhs: &dInput, dRhs: &dRhs, dOutput: dOutput, lhs: x, rhs: rhs, batch: n, channels: s[0],
                                 spatial: s.elementCount / s[0], rhsSpatial: r.elementCount / r[0])
            return [dInput, dRhs]
        case .concat:
            var dInputs = node.inputs.map { [T](repeating: 0, count: values[$0].count) }
            referenceConcatBackward(dInputs: &dInputs, dOutput: dOutput, channels: node.inputs.map { shapes[$0][0] },
                                    batch: n, inner: s.elementCount / s[0])
            return dInputs
        case let .channelShuffle(groups):
            referenceChannelShuffleBackward(dInput: &dInput, dOutput: dOutput, batch: n, channels: s[0],
                                            spatial: s[1] * s[2], groups: groups)
        case let .channelSlice(start, count):
            referenceChannelSliceBackward(dInput: &dInput, dOutput: dOutput, batch: n, channels: s[0],
                                          spatial: s.elementCount / s[0], start: start, count: count)
        case .flatten, .unflatten:
            referenceFlattenBackward(dInput: &dInput, dOutput: dOutput)
        case let .dropout(p):
            referenceDropoutBackward(dInput: &dInput, dOutput: dOutput, mask: dropoutMasks[index]!, p: p)
        case .softmax:
            referenceSoftmaxBackward(dInput: &dInput, dOutput: dOutput, output: values[index], batch: n, features: s[0])
        }
        return [dInput]
    }
}
