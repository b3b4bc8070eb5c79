import CDNNL

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Int8 lowering of a quantised graph (nodes carrying ``NodeQuantization``), in inference.
///
/// A node whose output has an ``ActivationQuantization`` and that has an int8 kernel stores
/// its output as an 8-bit buffer; its int8 consumers read it as it is, f32 consumers through a
/// dequantising reorder, and an int8 consumer that needs another scale through a requantising
/// one. Convolutions and linear layers with 8-bit weights run oneDNN's u8/s8 × s8 → s32
/// primitives with per-output-channel output scales; a ReLU or ReLU6 that is a convolution's
/// (or a residual add's) only consumer runs as its post-op. A residual add that is an
/// unmaterialised convolution's only consumer runs as that convolution's sum post-op (the
/// residual at its own scale and type, then the add's activation), in the residual's buffer
/// when nothing reads it later; any other add runs as a binary primitive with input scales. Pooling keeps int8; concatenation, channel shuffle, slice,
/// flatten and dropout move bytes. Every other op runs in f32 on its dequantised input; the
/// graph's inputs stay f32 and are quantised by the reorder into their first int8 consumer.
///
/// Semantics (the fake-quantised simulation in ``ReferenceGraphRunner`` computes the same):
/// every annotated output is `scale · (q − zero point)` with `q` rounded half to even and
/// clamped; nothing else is rounded (a convolution summed into its residual add is not). One difference: an f32-path node with an output
/// quantisation (a sigmoid feeding an int8 convolution) keeps its f32 output, quantised only by
/// the reorder into its int8 consumers, so as a graph output it is not rounded. Output scales
/// are read from the graph when the executor is planned.
extension DNNLExecutor {
    /// Plans node `i` on int8 kernels when it is annotated for them; false leaves it to the
    /// f32 path.
    func compileInt8(_ i: Int) throws -> Bool {
        let node = graph.nodes[i]
        guard mode == .inference else { return false }
        if case .add = node.op, node.quantization?.output == nil, int8Activation(after: i) != nil {
            // An add whose ReLU is fused carries no quantisation of its own.
            try compileInt8Add(i)
            return true
        }
        guard let quantization = node.quantization else { return false }
        let storedInputs = node.inputs.allSatisfy { storedQuantization[$0] != nil }
        switch node.op {
        case let .conv2d(a):
            guard quantization.weights != nil else { return false }
            try compileInt8Convolution(i, a)
        case let .linear(a):
            guard quantization.weights != nil else { return false }
            try compileInt8Linear(i, a)
        case .add:
            guard quantization.output != nil || int8Activation(after: i) != nil else { return false }
            try compileInt8Add(i)
        case let .maxPool(a):
            guard storedInputs, quantization.output != nil else { return false }
            try compileInt8Pooling(i, a, algorithm: dnnl_pooling_max)
        case let .avgPool(a):
            guard storedInputs, quantization.output != nil else { return false }
            let algorithm = a.countIncludePad ? dnnl_pooling_avg_include_padding : dnnl_pooling_avg_exclude_padding
            let src = fullShape(node.inputs[0]), dst = fullShape(i)
            let geometry = PoolingGeometry(a, input: [src[2], src[3]], output: [dst[2], dst[3]])
            // Ceil-mode windows past the padding need PyTorch's clipped divisor: f32 path.
            if algorithm == dnnl_pooling_avg_include_padding && geometry.extendsPastPadding { return false }
            try compileInt8Pooling(i, a, algorithm: algorithm)
        case .globalAvgPool:
            guard storedInputs, quantization.output != nil else { return false }
            let src = fullShape(node.inputs[0])
            try compileInt8Pooling(i, Pool2dAttributes(kernelSize: [src[2], src[3]], stride: [1, 1]),
                                   algorithm: dnnl_pooling_avg_exclude_padding)
        case .relu:
            guard storedInputs, let output = quantization.output else { return false }
            // A saturating reorder into u8 at the same scale clamps negatives to zero.
            let layout = MemoryDescriptor.withDataType(valueMD[node.inputs[0]], MemoryDescriptor.dataType(output.dtype))
            let x = try input(i, 0, as: layout, quantization: output)
            valueBuffer[i] = x
            valueMD[i] = layout
            storedQuantization[i] = output
        case .concat, .channelShuffle, .channelSlice, .flatten, .dropout:
            guard storedInputs, let output = quantization.output else { return false }
            try compileInt8Movement(i, output)
        case .input, .batchNorm, .relu6, .hardSwish, .sigmoid, .softmax, .leakyRelu, .prelu, .elu, .tanh, .silu, .hardSigmoid, .localResponseNorm, .pad, .mul, .unflatten:
            return false
        }
        return true
    }

    /// The activation (ReLU or ReLU6) computed inside node `i`'s int8 primitive: `i`'s output
    /// is not materialised (no output quantisation), it is no graph output, and its only
    /// consumer is such an activation with an output quantisation.
    func int8Activation(after i: Int) -> (node: Int, output: ActivationQuantization, eltwise: (dnnl_alg_kind_t, Float, Float))? {
        guard graph.nodes[i].quantization?.output == nil, !graph.outputs.contains(i) else { return nil }
        let consumers = graph.consumers[i]
        guard consumers.count == 1, let output = graph.nodes[consumers[0]].quantization?.output else { return nil }
        switch graph.nodes[consumers[0]].op {
        case .relu: return (consumers[0], output, (dnnl_eltwise_relu, 0, 0))
        // The post-op sees the result already divided by the output scale.
        case .relu6: return (consumers[0], output, (dnnl_eltwise_clip_v2, 0, 6 / output.scale))
        case .input, .conv2d, .batchNorm, .hardSwish, .sigmoid, .maxPool, .avgPool, .globalAvgPool, .linear, .add,
             .concat, .channelShuffle, .channelSlice, .flatten, .dropout, .softmax, .leakyRelu, .prelu, .elu, .tanh, .silu, .hardSigmoid, .localResponseNorm, .pad, .mul, .unflatten:
            return nil
        }
    }

    /// The quantisation an int8 node reads input `slot` at: the producer's output quantisation.
    func int8Source(_ i: Int, _ slot: Int) throws -> ActivationQuantization {
        let s = graph.nodes[i].inputs[slot]
        guard let quantization = graph.nodes[s].quantization?.output else {
            throw ExecutionError.backend(node: graph.nodes[i].name,
                                         message: "runs in int8 but its input '\(graph.nodes[s].name)' has no int8 quantisation")
        }
        try quantization.validate(node: graph.nodes[s].name)
        return quantization
    }

    /// Where an int8 compute node writes and what its primitive's post-ops compute.
    struct Int8Destination {
        /// The stored output: the node's own, or that of the add or activation computed inside
        /// its primitive; nil writes f32.
        var output: ActivationQuantization?
        var eltwise: (dnnl_alg_kind_t, Float, Float)?
        /// The residual add computed as the sum post-op: the add node, its other input and
        /// that input's quantisation.
        var sum: (add: Int, residual: Int, quantization: ActivationQuantization)?
        /// What the primitive's name adds (" + layer1.add + relu").
        var label = ""
    }

    /// The residual add computed inside convolution `i`'s int8 primitive as oneDNN's sum
    /// post-op (the quantiser's rule, ``PostTrainingQuantizer``): `i`'s output is not
    /// materialised (no output quantisation) and is no graph output, its only consumer is an
    /// add of two different values, and the add's other input has an 8-bit quantisation, the
    /// same shape, and is computed before `i` (so its value is there when `i` runs).
    func int8ResidualAdd(after i: Int) -> (add: Int, residual: Int, quantization: ActivationQuantization)? {
        guard case .conv2d = graph.nodes[i].op, graph.nodes[i].quantization?.output == nil,
              !graph.outputs.contains(i), graph.consumers[i].count == 1 else { return nil }
        let add = graph.consumers[i][0]
        guard case .add = graph.nodes[add].op else { return nil }
        let inputs = graph.nodes[add].inputs
        guard inputs.count == 2, inputs[0] != inputs[1] else { return nil }
        let residual = inputs[0] == i ? inputs[1] : inputs[0]
        guard residual < i, shapes[residual] == shapes[i], let quantization = graph.nodes[residual].quantization?.output else {
            return nil
        }
        return (add, residual, quantization)
    }

    /// Where an int8 compute node writes: its own output quantisation, a fused activation's,
    /// or a residual add's (and the add's activation's) when the add is its sum post-op; the
    /// nodes computed inside the primitive share its buffer.
    func int8Destination(_ i: Int) throws -> Int8Destination {
        if let sum = int8ResidualAdd(after: i) {
            try sum.quantization.validate(node: graph.nodes[sum.residual].name)
            int8Alias[sum.add] = i
            let label = " + \(graph.nodes[sum.add].name)"
            if let fused = int8Activation(after: sum.add) {
                try fused.output.validate(node: graph.nodes[fused.node].name)
                int8Alias[fused.node] = i
                return Int8Destination(output: fused.output, eltwise: fused.eltwise, sum: sum,
                                       label: label + " + \(graph.nodes[fused.node].op.kind)")
            }
            guard let output = graph.nodes[sum.add].quantization?.output else {
                throw ExecutionError.backend(node: graph.nodes[sum.add].name,
                                             message: "adds an int8 convolution's result into its residual but has no int8 quantisation")
            }
            try output.validate(node: graph.nodes[sum.add].name)
            return Int8Destination(output: output, sum: sum, label: label)
        }
        if let fused = int8Activation(after: i) {
            try fused.output.validate(node: graph.nodes[fused.node].name)
            int8Alias[fused.node] = i
            return Int8Destination(output: fused.output, eltwise: fused.eltwise, label: " + \(graph.nodes[fused.node].op.kind)")
        }
        if let output = graph.nodes[i].quantization?.output {
            try output.validate(node: graph.nodes[i].name)
            return Int8Destination(output: output)
        }
        return Int8Destination()
    }

    func requireSymmetric(_ i: Int, _ quantizations: [ActivationQuantization?]) throws {
        for case let q? in quantizations where q.zeroPoint != 0 {
            throw ExecutionError.backend(node: graph.nodes[i].name,
                                         message: "int8 kernels take symmetric activations (zero point 0), got zero point \(q.zeroPoint)")
        }
    }

    func dataType(_ quantization: ActivationQuantization?) -> dnnl_data_type_t {
        quantization.map { MemoryDescriptor.dataType($0.dtype) } ?? dnnl_f32
    }

    /// Per-output-channel weight scales of node `i`, checked.
    func weightScales(_ i: Int, count: Int) throws -> [Float] {
        let node = graph.nodes[i]
        let scales = graph.parameters[node.parameterName("weight_scale")]!.scalars
        guard scales.count == count, scales.allSatisfy({ $0 > 0 && $0.isFinite }) else {
            throw ExecutionError.backend(node: node.name, message: "weight scales must be \(count) positive finite numbers")
        }
        return scales
    }

    /// The bias in the accumulator's units (oneDNN 2.x adds it before the output scale):
    /// `b[o] / (input scale · weight scale[o])`, recomputed on ``reloadParameters()``.
    func int8Bias(_ i: Int, inputScale: Float, weightScales: [Float]) -> Argument {
        let node = graph.nodes[i]
        let bias = graph.parameters[node.parameterName("bias")]!
        let buffer = newBuffer(try! MemoryDescriptor.plain([weightScales.count]), at: 0)
        touch(buffer, endTime)
        preparationSteps.append(.swift("\(node.name) bias to accumulator units") { ex in
            let source = bias.floats, destination = ex.floatPointer(buffer)
            for o in 0..<weightScales.count {
                destination[o] = Float(Double(source[o]) / (Double(inputScale) * Double(weightScales[o])))
            }
        })
        return .buffer(buffer)
    }

    /// Whether Pare must halve node `i`'s weights itself: 7-bit weights stored doubled (even
    /// values beyond ±63, see the quantiser) are meant for oneDNN's kernels that halve the
    /// weights of an s8-input layer on CPUs without VNNI (the primitive's weights layout then
    /// carries oneDNN's `scale_adjust`); a primitive that does not (a GEMM-based inner
    /// product, or a u8 input) would multiply values up to 126 and could saturate, so the
    /// weights go in halved (exact: they are even) with twice the output scale.
    func int8WeightsNeedHalving(_ i: Int, layout: dnnl_memory_desc_t) -> Bool {
        let node = graph.nodes[i]
        guard node.quantization?.weights?.bits == 7 else { return false }
        let adjusted = layout.extra.flags & UInt64(dnnl_memory_extra_flag_scale_adjust.rawValue) != 0 && layout.extra.scale_adjust != 1
        guard !adjusted else { return false }
        let tensor = graph.parameters[node.parameterName("weight")]!
        let values = UnsafeBufferPointer(start: tensor.storage.pointer.assumingMemoryBound(to: Int8.self), count: tensor.elementCount)
        return values.contains { abs(Int($0)) > 63 }
    }

    /// The 8-bit weights of node `i` in the primitive's layout, reordered when planned (the
    /// reorder also writes the zero-point compensation oneDNN keeps beside s8-input weights);
    /// `halved` divides them by two first (see ``int8WeightsNeedHalving(_:layout:)``).
    func int8Weights(_ i: Int, plainShape: [Int], layout: dnnl_memory_desc_t, halved: Bool) throws -> Argument {
        let node = graph.nodes[i]
        let tensor = graph.parameters[node.parameterName("weight")]!
        let plain = try MemoryDescriptor.plain(plainShape, dtype: dnnl_s8)
        var source = try external(tensor, shape: plainShape)
        if halved {
            let buffer = newBuffer(plain, at: 0)
            touch(buffer, endTime)
            let count = tensor.elementCount
            preparationSteps.append(.swift("\(node.parameterName("weight")) halved") { ex in
                let from = tensor.storage.pointer.assumingMemoryBound(to: Int8.self)
                let to = UnsafeMutableRawPointer(ex.bytePointer(buffer)).assumingMemoryBound(to: Int8.self)
                for k in 0..<count { to[k] = from[k] / 2 }
            })
            implementationNotes.append("\(node.name): doubled 7-bit weights halved for a kernel that does not halve them")
            source = .buffer(buffer)
        }
        if MemoryDescriptor.equal(plain, layout) { return source }
        let buffer = newBuffer(layout, at: 0)
        touch(buffer, endTime)
        let r = try reorder(from: plain, to: layout, name: "\(node.parameterName("weight")) int8 to primitive layout")
        addPreparation(r, [(DNNL_ARG_FROM, source), (DNNL_ARG_TO, .buffer(buffer))])
        return .buffer(buffer)
    }

    func compileInt8Convolution(_ i: Int, _ a: Conv2dAttributes) throws {
        let node = graph.nodes[i]
        let source = try int8Source(i, 0)
        let destination = try int8Destination(i)
        try requireSymmetric(i, [source, destination.output, destination.sum?.quantization])
        let src = fullShape(node.inputs[0]), dst = fullShape(i)
        let weightShape = a.groups == 1
            ? [a.outChannels, src[1], a.kernelSize[0], a.kernelSize[1]]
            : [a.groups, a.outChannels / a.groups, src[1] / a.groups, a.kernelSize[0], a.kernelSize[1]]
        var srcMD = try MemoryDescriptor.any(src, dtype: dataType(source))
        var weightsMD = try MemoryDescriptor.any(weightShape, dtype: dnnl_s8)
        var biasMD = a.bias ? try MemoryDescriptor.plain([a.outChannels]) : dnnl_memory_desc_t()
        var dstMD = try MemoryDescriptor.any(dst, dtype: dataType(destination.output))
        var desc = dnnl_convolution_desc_t()
        let geometry = ConvolutionGeometry(a)
        try dnnlCheck(dnnl_dilated_convolution_forward_desc_init(
            &desc, dnnl_forward_inference, dnnl_convolution_direct, &srcMD, &weightsMD, &biasMD, &dstMD,
            geometry.strides, geometry.dilates, geometry.paddingL, geometry.paddingR), "describe int8 convolution")
        try compileInt8Layer(i, &desc, kind: "conv", outputs: a.outChannels, weightShape: weightShape, bias: a.bias,
                             source: source, destination: destination)
    }

    func compileInt8Linear(_ i: Int, _ a: LinearAttributes) throws {
        let node = graph.nodes[i]
        let source = try int8Source(i, 0)
        let destination = try int8Destination(i)
        try requireSymmetric(i, [source, destination.output])
        let src = fullShape(node.inputs[0])
        var srcMD = try MemoryDescriptor.any(src, dtype: dataType(source))
        var weightsMD = try MemoryDescriptor.any([a.outFeatures, src[1]], dtype: dnnl_s8)
        var biasMD = a.bias ? try MemoryDescriptor.plain([a.outFeatures]) : dnnl_memory_desc_t()
        var dstMD = try MemoryDescriptor.any(fullShape(i), dtype: dataType(destination.output))
        var desc = dnnl_inner_product_desc_t()
        try dnnlCheck(dnnl_inner_product_forward_desc_init(&desc, dnnl_forward_inference, &srcMD, &weightsMD, &biasMD, &dstMD),
                      "describe int8 inner product")
        try compileInt8Layer(i, &desc, kind: "linear", outputs: a.outFeatures, weightShape: [a.outFeatures, src[1]], bias: a.bias,
                             source: source, destination: destination)
    }

    /// The int8 primitive of convolution or linear layer `i` from its op descriptor: output
    /// scales `input scale · weight scale[o] / output scale` per output channel, the fused
    /// activation as post-op, weights reordered (halved when the kernel would not), bias in
    /// accumulator units.
    func compileInt8Layer<Desc>(_ i: Int, _ desc: inout Desc, kind: String, outputs: Int, weightShape: [Int], bias: Bool,
                                source: ActivationQuantization, destination: Int8Destination) throws {
        let node = graph.nodes[i]
        let scales = try weightScales(i, count: outputs)
        let outputScale = destination.output?.scale ?? 1
        func make(_ factor: Float) throws -> DNNLPrimitive {
            // The residual enters at its own scale: `dst = result + (residual scale / output
            // scale) · residual`, read as its own 8-bit type.
            let sum = destination.sum.map { $0.quantization }
            let attributes = try DNNLAttributes(sumPostOp: sum != nil, sumScale: sum.map { $0.scale / outputScale } ?? 1,
                                                sumDataType: sum.map { dataType($0) },
                                                eltwise: destination.eltwise,
                                                outputScales: scales.map { factor * source.scale * $0 / outputScale },
                                                outputScalesMask: 1 << 1)
            return try primitive(&desc, attributes: attributes, name: "\(node.name) \(kind) forward int8\(destination.label)")
        }
        var p = try make(1)
        let halved = int8WeightsNeedHalving(i, layout: p.query(dnnl_query_weights_md))
        if halved { p = try make(2) }
        forwardPrimitive[i] = p
        let x = try input(i, 0, as: p.query(dnnl_query_src_md), quantization: source)
        let layout = p.query(dnnl_query_dst_md)
        let y: Int
        if let sum = destination.sum {
            // The sum post-op reads the residual from the destination buffer.
            let residualLayout = MemoryDescriptor.withDataType(layout, dataType(sum.quantization))
            if storedQuantization[sum.residual] == sum.quantization, MemoryDescriptor.equal(valueMD[sum.residual], residualLayout),
               residualIsDead(sum.residual, after: i, except: sum.add) {
                // In place: the residual's own buffer, which nothing reads afterwards.
                valueMD[i] = layout
                valueBuffer[i] = valueBuffer[sum.residual]
                y = valueBuffer[i]
                implementationNotes.append("\(node.name) adds into \(graph.nodes[sum.residual].name)'s buffer in place (int8 residual)")
            } else {
                y = output(i, layout)
                let r = try reorder(from: valueMD[sum.residual], to: residualLayout, from: storedQuantization[sum.residual],
                                    to: sum.quantization, name: "\(graph.nodes[sum.residual].name) into \(node.name)'s output (int8 residual)")
                addPrimitive(r, [(DNNL_ARG_FROM, .buffer(valueBuffer[sum.residual])), (DNNL_ARG_TO, .buffer(y))], at: forwardTime(i))
            }
        } else {
            y = output(i, layout)
        }
        storedQuantization[i] = destination.output
        let weights = try int8Weights(i, plainShape: weightShape, layout: p.query(dnnl_query_weights_md), halved: halved)
        var args: [(Int32, Argument)] = [(DNNL_ARG_SRC, .buffer(x)), (DNNL_ARG_WEIGHTS, weights), (DNNL_ARG_DST, .buffer(y))]
        if bias {
            args.append((DNNL_ARG_BIAS, int8Bias(i, inputScale: source.scale, weightScales: scales.map { halved ? 2 * $0 : $0 })))
        }
        addPrimitive(p, args, at: forwardTime(i))
    }

    /// `y = s0/s · x0 + s1/s · x1` rounded into the output's 8 bits (ReLU after it when fused).
    func compileInt8Add(_ i: Int) throws {
        let node = graph.nodes[i]
        let first = try int8Source(i, 0), second = try int8Source(i, 1)
        let destination = try int8Destination(i)
        try requireSymmetric(i, [first, second, destination.output])
        let s0 = node.inputs[0]
        let layout = storedQuantization[s0] != nil ? valueMD[s0] : try plainMD(s0)
        var md0 = MemoryDescriptor.withDataType(layout, dataType(first))
        var md1 = MemoryDescriptor.withDataType(layout, dataType(second))
        let x0 = try input(i, 0, as: md0, quantization: first)
        let x1 = try input(i, 1, as: md1, quantization: second)
        var dstMD = MemoryDescriptor.withDataType(layout, dataType(destination.output))
        var desc = dnnl_binary_desc_t()
        try dnnlCheck(dnnl_binary_desc_init(&desc, dnnl_binary_add, &md0, &md1, &dstMD), "describe int8 add")
        let outputScale = destination.output?.scale ?? 1
        let attributes = try DNNLAttributes(eltwise: destination.eltwise,
                                            argumentScales: [(DNNL_ARG_SRC_0, first.scale / outputScale),
                                                             (DNNL_ARG_SRC_1, second.scale / outputScale)])
        let p = try primitive(&desc, attributes: attributes, name: "\(node.name) add int8\(destination.label)")
        let y = output(i, p.query(dnnl_query_dst_md))
        storedQuantization[i] = destination.output
        addPrimitive(p, [(DNNL_ARG_SRC_0, .buffer(x0)), (DNNL_ARG_SRC_1, .buffer(x1)), (DNNL_ARG_DST, .buffer(y))],
                     at: forwardTime(i))
    }

    /// Max or average pooling on the input's 8-bit values; the output keeps the input's
    /// quantisation (the average is rounded back into it).
    func compileInt8Pooling(_ i: Int, _ a: Pool2dAttributes, algorithm: dnnl_alg_kind_t) throws {
        let node = graph.nodes[i]
        let s = node.inputs[0]
        let source = storedQuantization[s]!
        let src = fullShape(s), dst = fullShape(i)
        var srcMD = valueMD[s]
        var dstMD = try MemoryDescriptor.any(dst, dtype: dataType(source))
        let geometry = PoolingGeometry(a, input: [src[2], src[3]], output: [dst[2], dst[3]])
        var desc = dnnl_pooling_v2_desc_t()
        try dnnlCheck(dnnl_pooling_v2_forward_desc_init(&desc, dnnl_forward_inference, algorithm, &srcMD, &dstMD,
                                                        geometry.strides, geometry.kernel, geometry.dilation,
                                                        geometry.paddingL, geometry.paddingR), "describe int8 pooling")
        let p = try primitive(&desc, name: "\(node.name) \(node.op.kind) forward int8")
        forwardPrimitive[i] = p
        let x = try input(i, 0, as: srcMD, quantization: source)
        let y = output(i, p.query(dnnl_query_dst_md))
        storedQuantization[i] = source
        addPrimitive(p, [(DNNL_ARG_SRC, .buffer(x)), (DNNL_ARG_DST, .buffer(y))], at: forwardTime(i))
    }

    /// Concatenation, channel shuffle, slice, flatten and dropout (identity in inference) on
    /// plain 8-bit buffers, every input requantised to the node's output quantisation.
    func compileInt8Movement(_ i: Int, _ output: ActivationQuantization) throws {
        let node = graph.nodes[i]
        try output.validate(node: node.name)
        let dtype = dataType(output)
        let sources = try node.inputs.indices.map { k in
            try input(i, k, as: try MemoryDescriptor.plain(fullShape(node.inputs[k]), dtype: dtype), quantization: output)
        }
        let y = self.output(i, try MemoryDescriptor.plain(fullShape(i), dtype: dtype))
        storedQuantization[i] = output
        let batch = batchSize
        let t = forwardTime(i)
        switch node.op {
        case .concat:
            let blocks = node.inputs.map { shapes[$0].elementCount }
            addSwift(at: t, touching: sources + [y]) { ex in
                concatChannelsForward(output: ex.bytePointer(y), inputs: sources.map { UnsafePointer(ex.bytePointer($0)) },
                                      blockSizes: blocks, batch: batch)
            }
        case let .channelShuffle(groups):
            let s = shapes[i]
            addSwift(at: t, touching: [sources[0], y]) { ex in
                channelShuffle(output: ex.bytePointer(y), input: ex.bytePointer(sources[0]), batch: batch,
                               channels: s[0], plane: s[1] * s[2], groups: groups)
            }
        case let .channelSlice(start, count):
            let source = shapes[node.inputs[0]]
            let plane = source.elementCount / source[0]
            addSwift(at: t, touching: [sources[0], y]) { ex in
                channelSliceForward(output: ex.bytePointer(y), input: ex.bytePointer(sources[0]), batch: batch,
                                    channels: source[0], plane: plane, start: start, count: count)
            }
        case .flatten, .dropout:
            addSwift(at: t, touching: [sources[0], y]) { ex in
                memcpy(ex.bytePointer(y), ex.bytePointer(sources[0]), ex.buffers[y].bytes)
            }
        case .input, .conv2d, .batchNorm, .relu, .relu6, .hardSwish, .sigmoid, .maxPool, .avgPool, .globalAvgPool,
             .linear, .add, .softmax, .leakyRelu, .prelu, .elu, .tanh, .silu, .hardSigmoid, .localResponseNorm, .pad, .mul, .unflatten:
            preconditionFailure("\(node.op.kind) is not a byte movement")
        }
    }
}
