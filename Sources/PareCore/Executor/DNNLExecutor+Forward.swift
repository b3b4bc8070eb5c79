import CDNNL

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension DNNLExecutor {
    var propagation: dnnl_prop_kind_t { mode == .training ? dnnl_forward_training : dnnl_forward_inference }

    /// The channel block when channel shuffle `i` can run on its producer's layout: f32
    /// `nChw8c` or `nChw16c` with the channels a multiple of the block (no padding lanes), or
    /// nhwc (block = every channel).
    func blockedShuffleLayout(_ i: Int) throws -> Int? {
        let producer = graph.nodes[i].inputs[0]
        guard storedQuantization[producer] == nil,
              let block = try MemoryDescriptor.pixelChannelBlock(valueMD[producer], shape: fullShape(producer)),
              shapes[i][0] % block == 0 else { return nil }
        return block
    }

    /// Plans node `i`'s forward pass: its primitives, layouts and buffers.
    func compileForward(_ i: Int) throws {
        let node = graph.nodes[i]
        let t = forwardTime(i)
        if let convolution = fusion?.aliasOf[i] {
            // Computed inside the convolution's primitive: share its output (8-bit after a
            // few-channel convolution whose pooling feeds an int8 layer).
            valueBuffer[i] = valueBuffer[convolution]
            valueMD[i] = valueMD[convolution]
            storedQuantization[i] = storedQuantization[convolution]
            return
        }
        if let producer = int8Alias[i] {
            // Computed inside an int8 primitive as its post-op: share its 8-bit output.
            valueBuffer[i] = valueBuffer[producer]
            valueMD[i] = valueMD[producer]
            storedQuantization[i] = storedQuantization[producer]
            return
        }
        if try compileInt8(i) { return }
        switch node.op {
        case .input:
            output(i, try plainMD(i))
            inputStaging.append(valueBuffer[i])

        case let .conv2d(a):
            try compileConvolution(i, a, fusion: fusion?.convolutions[i])

        case let .batchNorm(a):
            let srcMD = floatLayout(node.inputs[0])
            var dataMD = srcMD
            var flags = dnnl_use_scale.rawValue | dnnl_use_shift.rawValue
            if mode == .inference { flags |= dnnl_use_global_stats.rawValue }
            var desc = dnnl_batch_normalization_desc_t()
            try dnnlCheck(dnnl_batch_normalization_forward_desc_init(&desc, propagation, &dataMD, batchNormEpsilon(a.eps), flags),
                          "describe batch norm")
            let p = try primitive(&desc, name: "\(node.name) batchnorm forward")
            forwardPrimitive[i] = p
            let x = try input(i, 0, as: srcMD)
            let y = output(i, p.query(dnnl_query_dst_md))
            let scale = try external(graph.parameters[node.parameterName("weight")]!)
            let shift = try external(graph.parameters[node.parameterName("bias")]!)
            let runningMean = graph.parameters[node.parameterName("running_mean")]!
            let runningVariance = graph.parameters[node.parameterName("running_var")]!
            if mode == .inference {
                addPrimitive(p, [(DNNL_ARG_SRC, .buffer(x)), (DNNL_ARG_DST, .buffer(y)),
                                 (DNNL_ARG_MEAN, try external(runningMean)), (DNNL_ARG_VARIANCE, try external(runningVariance)),
                                 (DNNL_ARG_SCALE, scale), (DNNL_ARG_SHIFT, shift)], at: t)
            } else {
                let mean = newBuffer(p.query(dnnl_query_dst_md, 1), at: t)
                let variance = newBuffer(p.query(dnnl_query_dst_md, 2), at: t)
                saved[i]["mean"] = mean
                saved[i]["variance"] = variance
                addPrimitive(p, [(DNNL_ARG_SRC, .buffer(x)), (DNNL_ARG_DST, .buffer(y)),
                                 (DNNL_ARG_MEAN, .buffer(mean)), (DNNL_ARG_VARIANCE, .buffer(variance)),
                                 (DNNL_ARG_SCALE, scale), (DNNL_ARG_SHIFT, shift)], at: t)
                let count = fullShape(i).enumerated().filter { $0.offset != 1 }.reduce(1) { $0 * $1.element }
                let momentum = Float(a.momentum)
                let batches = graph.parameters[node.parameterName("num_batches_tracked")]!
                addSwift(at: t, touching: [mean, variance]) { ex in
                    updateRunningStatistics(runningMean: runningMean.floats, runningVariance: runningVariance.floats,
                                            batchMean: ex.floatPointer(mean), batchVariance: ex.floatPointer(variance),
                                            momentum: momentum, count: count)
                    batches.storage.pointer.assumingMemoryBound(to: Int64.self).pointee += 1
                }
            }

        case .relu:
            try compileEltwise(i, dnnl_eltwise_relu, 0, 0)
        case .relu6:
            try compileEltwise(i, dnnl_eltwise_clip_v2, 0, 6)
        case .hardSwish:
            try compileEltwise(i, dnnl_eltwise_hardswish, 0, 0)
        case .sigmoid:
            try compileEltwise(i, dnnl_eltwise_logistic, 0, 0)
        case let .leakyRelu(negativeSlope):
            try compileEltwise(i, dnnl_eltwise_relu, Float(negativeSlope), 0)
        case let .elu(alpha):
            try compileEltwise(i, dnnl_eltwise_elu, Float(alpha), 0)
        case .tanh:
            try compileEltwise(i, dnnl_eltwise_tanh, 0, 0)
        case .silu:
            try compileEltwise(i, dnnl_eltwise_swish, 1, 0)
        case .hardSigmoid:
            // oneDNN 2.6 has no hard-sigmoid eltwise algorithm.
            let x = try input(i, 0, as: try plainMD(node.inputs[0]))
            let y = output(i, try plainMD(i))
            addSwift(at: t, touching: [x, y]) { ex in
                hardSigmoidForward(ex.floatPointer(y), ex.floatPointer(x), count: ex.floatCount(y))
            }
        case let .prelu(perChannel):
            let x = try input(i, 0, as: try plainMD(node.inputs[0]))
            let y = output(i, try plainMD(i))
            let s = shapes[i]
            let batch = batchSize
            let weight = graph.parameters[node.parameterName("weight")]!
            addSwift(at: t, touching: [x, y]) { ex in
                preluForward(output: ex.floatPointer(y), input: ex.floatPointer(x), weight: weight.floats.baseAddress!,
                             batch: batch, channels: s[0], plane: s.elementCount / s[0], shared: !perChannel)
            }

        case let .localResponseNorm(a):
            var dataMD = valueMD[node.inputs[0]]
            var desc = dnnl_lrn_desc_t()
            try dnnlCheck(dnnl_lrn_forward_desc_init(&desc, propagation, dnnl_lrn_across_channels, &dataMD, dnnl_dim_t(a.size),
                                                     Float(a.alpha), Float(a.beta), Float(a.k)), "describe lrn")
            let p = try primitive(&desc, name: "\(node.name) lrn forward")
            forwardPrimitive[i] = p
            let x = try input(i, 0, as: dataMD)
            let y = output(i, p.query(dnnl_query_dst_md))
            var args: [(Int32, Argument)] = [(DNNL_ARG_SRC, .buffer(x)), (DNNL_ARG_DST, .buffer(y))]
            let workspaceMD = p.query(dnnl_query_workspace_md)
            if !MemoryDescriptor.isZero(workspaceMD) {
                let workspace = newBuffer(workspaceMD, at: t)
                saved[i]["workspace"] = workspace
                args.append((DNNL_ARG_WORKSPACE, .buffer(workspace)))
            }
            addPrimitive(p, args, at: t)

        case let .pad(a):
            let x = try input(i, 0, as: try plainMD(node.inputs[0]))
            let y = output(i, try plainMD(i))
            let s = shapes[node.inputs[0]]
            let planes = batchSize * s[0]
            addSwift(at: t, touching: [x, y]) { ex in
                padForward(output: ex.floatPointer(y), input: ex.floatPointer(x), planes: planes, height: s[1], width: s[2],
                           attributes: a)
            }

        case let .maxPool(a):
            try compilePooling(i, a, algorithm: dnnl_pooling_max)
        case let .avgPool(a):
            try compilePooling(i, a, algorithm: a.countIncludePad ? dnnl_pooling_avg_include_padding : dnnl_pooling_avg_exclude_padding)
        case .globalAvgPool:
            let src = fullShape(node.inputs[0])
            try compilePooling(i, Pool2dAttributes(kernelSize: [src[2], src[3]], stride: [1, 1]),
                               algorithm: dnnl_pooling_avg_exclude_padding)

        case let .linear(a):
            let src = fullShape(node.inputs[0])
            var srcMD = try MemoryDescriptor.any(src)
            var weightsMD = try MemoryDescriptor.any([a.outFeatures, src[1]])
            var biasMD = a.bias ? try MemoryDescriptor.plain([a.outFeatures]) : dnnl_memory_desc_t()
            var dstMD = try MemoryDescriptor.any(fullShape(i))
            var desc = dnnl_inner_product_desc_t()
            try dnnlCheck(dnnl_inner_product_forward_desc_init(&desc, propagation, &srcMD, &weightsMD,
                                                               &biasMD, &dstMD), "describe inner product")
            let p = try primitive(&desc, name: "\(node.name) linear forward")
            forwardPrimitive[i] = p
            let x = try input(i, 0, as: p.query(dnnl_query_src_md))
            let y = output(i, p.query(dnnl_query_dst_md))
            let weights = try weightArgument(i, name: node.parameterName("weight"), plainShape: [a.outFeatures, src[1]],
                                             layout: p.query(dnnl_query_weights_md), key: "weights", at: t)
            var args: [(Int32, Argument)] = [(DNNL_ARG_SRC, .buffer(x)), (DNNL_ARG_WEIGHTS, weights), (DNNL_ARG_DST, .buffer(y))]
            if a.bias { args.append((DNNL_ARG_BIAS, try external(graph.parameters[node.parameterName("bias")]!))) }
            addPrimitive(p, args, at: t)

        case .add:
            var md0 = floatLayout(node.inputs[0])
            let x0 = try input(i, 0, as: md0)
            let x1 = try input(i, 1, as: md0)
            var md1 = md0
            var dstMD = md0
            var desc = dnnl_binary_desc_t()
            try dnnlCheck(dnnl_binary_desc_init(&desc, dnnl_binary_add, &md0, &md1, &dstMD), "describe add")
            let p = try primitive(&desc, name: "\(node.name) add")
            let y = output(i, p.query(dnnl_query_dst_md))
            addPrimitive(p, [(DNNL_ARG_SRC_0, .buffer(x0)), (DNNL_ARG_SRC_1, .buffer(x1)), (DNNL_ARG_DST, .buffer(y))], at: t)

        case .mul:
            // Same shape: both in the first input's layout. A [C, 1, 1] gate is read plain and
            // broadcast by oneDNN over H and W.
            var md0 = valueMD[node.inputs[0]]
            let broadcast = shapes[node.inputs[1]] != shapes[node.inputs[0]]
            var md1 = broadcast ? try plainMD(node.inputs[1]) : md0
            let x0 = try input(i, 0, as: md0)
            let x1 = try input(i, 1, as: md1)
            var dstMD = md0
            var desc = dnnl_binary_desc_t()
            try dnnlCheck(dnnl_binary_desc_init(&desc, dnnl_binary_mul, &md0, &md1, &dstMD), "describe mul")
            let p = try primitive(&desc, name: "\(node.name) mul")
            let y = output(i, p.query(dnnl_query_dst_md))
            addPrimitive(p, [(DNNL_ARG_SRC_0, .buffer(x0)), (DNNL_ARG_SRC_1, .buffer(x1)), (DNNL_ARG_DST, .buffer(y))], at: t)

        case .concat:
            let sources = try node.inputs.indices.map { k in
                try input(i, k, as: try plainMD(node.inputs[k]))
            }
            let y = output(i, try plainMD(i))
            let blocks = node.inputs.map { shapes[$0].elementCount }
            let batch = batchSize
            addSwift(at: t, touching: sources + [y]) { ex in
                concatChannelsForward(output: ex.floatPointer(y), inputs: sources.map { UnsafePointer(ex.floatPointer($0)) },
                                      blockSizes: blocks, batch: batch)
            }

        case let .channelShuffle(groups):
            let s = shapes[i]
            let batch = batchSize
            if let block = try blockedShuffleLayout(i) {
                // On the producer's blocked (or nhwc) layout, which the consumer (a convolution) wants too.
                let md = valueMD[node.inputs[0]]
                let x = try input(i, 0, as: md)
                let y = output(i, md)
                implementationNotes.append("\(node.name) channelShuffle: on \(MemoryDescriptor.describe(md))")
                addSwift(at: t, touching: [x, y], label: "\(node.name) channelShuffle forward (blocked)") { ex in
                    channelShuffleBlocked(output: ex.floatPointer(y), input: ex.floatPointer(x), batch: batch, channels: s[0],
                                          plane: s[1] * s[2], groups: groups, block: block)
                }
                break
            }
            let x = try input(i, 0, as: try plainMD(node.inputs[0]))
            let y = output(i, try plainMD(i))
            addSwift(at: t, touching: [x, y]) { ex in
                channelShuffle(output: ex.floatPointer(y), input: ex.floatPointer(x), batch: batch, channels: s[0],
                               plane: s[1] * s[2], groups: groups)
            }

        case let .channelSlice(start, count):
            let x = try input(i, 0, as: try plainMD(node.inputs[0]))
            let y = output(i, try plainMD(i))
            let source = shapes[node.inputs[0]]
            let plane = source.elementCount / source[0]
            let batch = batchSize
            addSwift(at: t, touching: [x, y]) { ex in
                channelSliceForward(output: ex.floatPointer(y), input: ex.floatPointer(x), batch: batch,
                                    channels: source[0], plane: plane, start: start, count: count)
            }

        case .flatten, .unflatten:
            let x = try input(i, 0, as: try plainMD(node.inputs[0]))
            let y = output(i, try plainMD(i))
            addSwift(at: t, touching: [x, y]) { ex in
                memcpy(ex.floatPointer(y), ex.floatPointer(x), ex.buffers[y].bytes)
            }

        case let .dropout(p):
            let x = try input(i, 0, as: try plainMD(node.inputs[0]))
            let y = output(i, try plainMD(i))
            if mode == .inference {
                addSwift(at: t, touching: [x, y]) { ex in
                    memcpy(ex.floatPointer(y), ex.floatPointer(x), ex.buffers[y].bytes)
                }
            } else {
                let mask = newBuffer(try plainMD(i), at: t)
                saved[i]["mask"] = mask
                let probability = p
                addSwift(at: t, touching: [x, y, mask]) { ex in
                    let count = ex.floatCount(y)
                    fillDropoutMask(ex.floatPointer(mask), count: count, probability: probability,
                                    generator: &ex.dropoutGenerator)
                    multiply(ex.floatPointer(y), ex.floatPointer(x), ex.floatPointer(mask), count: count)
                }
            }

        case .softmax:
            let x = try input(i, 0, as: try plainMD(node.inputs[0]))
            let y = output(i, try plainMD(i))
            let features = shapes[i][0]
            let batch = batchSize
            addSwift(at: t, touching: [x, y]) { ex in
                softmaxRowsForward(output: ex.floatPointer(y), input: ex.floatPointer(x), rows: batch, columns: features)
            }
        }
    }

    /// The weights of node `i` in the layout a primitive wants: the parameter tensor itself
    /// when that layout is plain, otherwise a buffer refreshed by a reorder at `time`.
    /// The epsilon given to oneDNN's batch norm: `eps`, but at least the smallest normal
    /// float. With `eps` 0, the zero lanes that pad a blocked layout's channels to a multiple
    /// of the block have variance 0 and would normalise to 0/0 = NaN, which the next
    /// convolution multiplies by its zero padding weights and spreads into real channels.
    /// The floor changes no real channel whose variance exceeds about 1e-31.
    func batchNormEpsilon(_ eps: Double) -> Float { max(Float(eps), Float.leastNormalMagnitude) }

    /// A convolution, with the batch norm and activation ``InferenceFusion`` fused into it
    /// (one with one input channel on ``FewChannelConvolution``, a max pooling fused too).
    func compileConvolution(_ i: Int, _ a: Conv2dAttributes, fusion: InferenceFusion.Convolution?) throws {
        let node = graph.nodes[i]
        let t = forwardTime(i)
        let src = fullShape(node.inputs[0])
        let dst = fullShape(i)
        let inChannels = src[1]
        let weightShape = a.groups == 1
            ? [a.outChannels, inChannels, a.kernelSize[0], a.kernelSize[1]]
            : [a.groups, a.outChannels / a.groups, inChannels / a.groups, a.kernelSize[0], a.kernelSize[1]]
        let foldedNorm = fusion?.batchNorm
        let hasBias = a.bias || foldedNorm != nil
        var srcMD = try MemoryDescriptor.any(src)
        var weightsMD = try MemoryDescriptor.any(weightShape)
        var biasMD = hasBias ? try MemoryDescriptor.plain([a.outChannels]) : dnnl_memory_desc_t()
        var dstMD = try MemoryDescriptor.any(dst)
        var desc = dnnl_convolution_desc_t()
        let geometry = ConvolutionGeometry(a)
        try dnnlCheck(dnnl_dilated_convolution_forward_desc_init(
            &desc, propagation, dnnl_convolution_direct, &srcMD, &weightsMD, &biasMD, &dstMD,
            geometry.strides, geometry.dilates, geometry.paddingL, geometry.paddingR), "describe convolution")
        var name = "\(node.name) conv forward"
        if let foldedNorm { name += " + \(graph.nodes[foldedNorm].name)" }
        if let add = fusion?.add { name += " + \(graph.nodes[add].name)" }
        if let activation = fusion?.activation { name += " + \(graph.nodes[activation].op.kind)" }
        let eltwise = fusion.flatMap { f in f.activation.map { _ in (f.algorithm, f.alpha, f.beta) } }
        let p = try primitive(&desc, attributes: try DNNLAttributes(sumPostOp: fusion?.add != nil, eltwise: eltwise), name: name)
        if fusion == nil, try compileWinogradConvolution(i, a, direct: p) { return }
        if let fusion, fusion.pool != nil {
            try compileFewChannelConvolution(i, a, fusion: fusion, weightShape: weightShape, direct: p)
            return
        }
        forwardPrimitive[i] = p
        let x = try input(i, 0, as: p.query(dnnl_query_src_md))
        let destination = p.query(dnnl_query_dst_md)
        let y: Int
        if let residual = fusion?.residual, let add = fusion?.add, storedQuantization[residual] == nil,
           MemoryDescriptor.equal(valueMD[residual], destination), residualIsDead(residual, after: i, except: add) {
            // The sum post-op adds the convolution's result to what the destination holds:
            // here the residual's own buffer, which nothing reads afterwards.
            valueMD[i] = destination
            valueBuffer[i] = valueBuffer[residual]
            y = valueBuffer[i]
            implementationNotes.append("\(node.name) adds into \(graph.nodes[residual].name)'s buffer in place (residual)")
        } else {
            y = output(i, destination)
            if let residual = fusion?.residual {
                // Copied (and converted) into the destination first.
                let r = try reorder(from: valueMD[residual], to: destination, from: storedQuantization[residual],
                                    name: "\(graph.nodes[residual].name) into \(node.name)'s output (residual)")
                addPrimitive(r, [(DNNL_ARG_FROM, .buffer(valueBuffer[residual])), (DNNL_ARG_TO, .buffer(y))], at: t)
            }
        }
        let weights: Argument
        var bias: Argument?
        if let foldedNorm {
            (weights, bias) = try foldedWeightArguments(i, norm: foldedNorm, plainShape: weightShape,
                                                        layout: p.query(dnnl_query_weights_md))
        } else {
            weights = try weightArgument(i, name: node.parameterName("weight"), plainShape: weightShape,
                                         layout: p.query(dnnl_query_weights_md), key: "weights", at: t)
            if a.bias { bias = try external(graph.parameters[node.parameterName("bias")]!) }
        }
        var args: [(Int32, Argument)] = [(DNNL_ARG_SRC, .buffer(x)), (DNNL_ARG_WEIGHTS, weights), (DNNL_ARG_DST, .buffer(y))]
        if let bias { args.append((DNNL_ARG_BIAS, bias)) }
        addPrimitive(p, args, at: t)
    }

    /// Whether convolution `i` may write into the buffer of `residual` (which its fused add
    /// `add` reads): no node sharing that buffer is a graph output or is read by a node other
    /// than `add` that runs at or after `i` (`i` itself reading it as its input included).
    func residualIsDead(_ residual: Int, after i: Int, except add: Int) -> Bool {
        let buffer = valueBuffer[residual]
        for j in 0..<i where valueBuffer[j] == buffer {
            if graph.outputs.contains(j) { return false }
            if graph.consumers[j].contains(where: { $0 >= i && $0 != add }) { return false }
        }
        return true
    }

    /// Weights and bias of convolution `i` with batch norm `norm` folded in, prepared (like
    /// every inference weight) when the executor is made and on ``reloadParameters()``.
    func foldedWeightArguments(_ i: Int, norm: Int, plainShape: [Int],
                               layout: dnnl_memory_desc_t) throws -> (weights: Argument, bias: Argument) {
        let conv = graph.nodes[i], bn = graph.nodes[norm]
        guard case let .batchNorm(attributes) = bn.op, case let .conv2d(a) = conv.op else {
            preconditionFailure("InferenceFusion folds only a batch norm into a convolution")
        }
        let plain = try MemoryDescriptor.plain(plainShape)
        let foldedWeights = newBuffer(plain, at: 0)
        let foldedBias = newBuffer(try MemoryDescriptor.plain([a.outChannels]), at: 0)
        for buffer in [foldedWeights, foldedBias] { touch(buffer, endTime) }
        let weights = graph.parameters[conv.parameterName("weight")]!
        let bias = a.bias ? graph.parameters[conv.parameterName("bias")]! : nil
        let parameter = { (name: String) in self.graph.parameters[bn.parameterName(name)]! }
        let (scale, shift, mean, variance) = (parameter("weight"), parameter("bias"), parameter("running_mean"),
                                              parameter("running_var"))
        let outChannels = a.outChannels, eps = attributes.eps
        preparationSteps.append(.swift("fold \(bn.name) into \(conv.name)") { ex in
            foldBatchNorm(weights: weights.floats.baseAddress!, bias: bias.map { UnsafePointer($0.floats.baseAddress!) },
                          outChannels: outChannels, weightCount: weights.elementCount, scale: scale.floats.baseAddress!,
                          shift: shift.floats.baseAddress!, mean: mean.floats.baseAddress!,
                          variance: variance.floats.baseAddress!, eps: eps,
                          foldedWeights: ex.floatPointer(foldedWeights), foldedBias: ex.floatPointer(foldedBias))
        })
        if MemoryDescriptor.equal(plain, layout) { return (.buffer(foldedWeights), .buffer(foldedBias)) }
        let reordered = newBuffer(layout, at: 0)
        touch(reordered, endTime)
        let r = try reorder(from: plain, to: layout, name: "\(conv.parameterName("weight")) folded to primitive layout")
        addPreparation(r, [(DNNL_ARG_FROM, .buffer(foldedWeights)), (DNNL_ARG_TO, .buffer(reordered))])
        return (.buffer(reordered), .buffer(foldedBias))
    }

    func weightArgument(_ i: Int, name: String, plainShape: [Int], layout: dnnl_memory_desc_t,
                        key: String, at time: Int) throws -> Argument {
        let tensor = weightTensor(name)
        let plain = try MemoryDescriptor.plain(plainShape)
        let source = try external(tensor, shape: plainShape)
        if MemoryDescriptor.equal(plain, layout) { return source }
        let buffer = newBuffer(layout, at: time)
        saved[i][key] = buffer
        let r = try reorder(from: plain, to: layout, name: "\(name) to primitive layout")
        if mode == .inference {
            // Weights do not change between inference passes: reorder once, when planned and
            // on reloadParameters(), into a buffer that lives for the whole pass.
            touch(buffer, 0)
            touch(buffer, endTime)
            addPreparation(r, [(DNNL_ARG_FROM, source), (DNNL_ARG_TO, .buffer(buffer))])
        } else {
            addPrimitive(r, [(DNNL_ARG_FROM, source), (DNNL_ARG_TO, .buffer(buffer))], at: time)
        }
        return .buffer(buffer)
    }

    func compileEltwise(_ i: Int, _ algorithm: dnnl_alg_kind_t, _ alpha: Float, _ beta: Float) throws {
        let node = graph.nodes[i]
        var dataMD = floatLayout(node.inputs[0])
        var desc = dnnl_eltwise_desc_t()
        try dnnlCheck(dnnl_eltwise_forward_desc_init(&desc, propagation, algorithm, &dataMD, alpha, beta), "describe eltwise")
        let p = try primitive(&desc, name: "\(node.name) \(node.op.kind) forward")
        forwardPrimitive[i] = p
        let x = try input(i, 0, as: dataMD)
        let y = output(i, p.query(dnnl_query_dst_md))
        addPrimitive(p, [(DNNL_ARG_SRC, .buffer(x)), (DNNL_ARG_DST, .buffer(y))], at: forwardTime(i))
    }

    func compilePooling(_ i: Int, _ a: Pool2dAttributes, algorithm: dnnl_alg_kind_t) throws {
        let node = graph.nodes[i]
        let src = fullShape(node.inputs[0])
        let dst = fullShape(i)
        var srcMD = floatLayout(node.inputs[0])
        let geometry = PoolingGeometry(a, input: [src[2], src[3]], output: [dst[2], dst[3]])
        // Ceil-mode average pooling that counts padding divides windows running past the
        // padding by their clipped size (PyTorch); oneDNN divides by the kernel size. The
        // output is then kept plain and rescaled per position.
        let rescale = algorithm == dnnl_pooling_avg_include_padding && geometry.extendsPastPadding
        var dstMD = rescale ? try MemoryDescriptor.plain(dst) : try MemoryDescriptor.any(dst)
        var desc = dnnl_pooling_v2_desc_t()
        try dnnlCheck(dnnl_pooling_v2_forward_desc_init(&desc, propagation, algorithm, &srcMD, &dstMD,
                                                        geometry.strides, geometry.kernel, geometry.dilation,
                                                        geometry.paddingL, geometry.paddingR), "describe pooling")
        let p = try primitive(&desc, name: "\(node.name) \(node.op.kind) forward")
        if algorithm == dnnl_pooling_max, try compileBlockedMaxPooling(i, a, direct: p) { return }
        forwardPrimitive[i] = p
        let x = try input(i, 0, as: srcMD)
        let y = output(i, p.query(dnnl_query_dst_md))
        var args: [(Int32, Argument)] = [(DNNL_ARG_SRC, .buffer(x)), (DNNL_ARG_DST, .buffer(y))]
        let workspaceMD = p.query(dnnl_query_workspace_md)
        if !MemoryDescriptor.isZero(workspaceMD) {
            let workspace = newBuffer(workspaceMD, at: forwardTime(i))
            saved[i]["workspace"] = workspace
            args.append((DNNL_ARG_WORKSPACE, .buffer(workspace)))
        }
        addPrimitive(p, args, at: forwardTime(i))
        if rescale {
            let factors = geometry.includePaddingCorrection(a, input: [src[2], src[3]], output: [dst[2], dst[3]])
            let planes = dst[0] * dst[1]
            addSwift(at: forwardTime(i), touching: [y]) { ex in
                scalePlanes(ex.floatPointer(y), factors: factors, planes: planes)
            }
            saved[i]["rescale"] = y
        }
    }
}

/// Multiplies each of `planes` consecutive planes elementwise by `factors` (one plane).
func scalePlanes(_ data: UnsafeMutablePointer<Float>, factors: [Float], planes: Int) {
    let size = factors.count
    factors.withUnsafeBufferPointer { f in
        for p in 0..<planes {
            let plane = data + p * size
            for j in 0..<size { plane[j] *= f[j] }
        }
    }
}

/// oneDNN's description of a convolution window (dilation counted from 0).
struct ConvolutionGeometry {
    let strides: [dnnl_dim_t]
    let dilates: [dnnl_dim_t]
    let paddingL: [dnnl_dim_t]
    let paddingR: [dnnl_dim_t]

    init(_ a: Conv2dAttributes) {
        strides = MemoryDescriptor.dims(a.stride)
        dilates = MemoryDescriptor.dims(a.dilation.map { $0 - 1 })
        paddingL = MemoryDescriptor.dims([a.padding.top, a.padding.left])
        paddingR = MemoryDescriptor.dims([a.padding.bottom, a.padding.right])
    }
}

/// oneDNN's description of a pooling window. oneDNN computes the output size with floor
/// division, so PyTorch's ceil mode becomes extra right/bottom padding.
struct PoolingGeometry {
    let strides: [dnnl_dim_t]
    let kernel: [dnnl_dim_t]
    let dilation: [dnnl_dim_t]
    let paddingL: [dnnl_dim_t]
    let paddingR: [dnnl_dim_t]
    /// Whether a window runs past the declared padding (ceil mode).
    let extendsPastPadding: Bool

    init(_ a: Pool2dAttributes, input: [Int], output: [Int]) {
        strides = MemoryDescriptor.dims(a.stride)
        kernel = MemoryDescriptor.dims(a.kernelSize)
        dilation = MemoryDescriptor.dims([0, 0])
        paddingL = MemoryDescriptor.dims([a.padding.top, a.padding.left])
        let declared = [a.padding.bottom, a.padding.right]
        let before = [a.padding.top, a.padding.left]
        var right = declared
        var extends = false
        for axis in 0..<2 {
            let needed = (output[axis] - 1) * a.stride[axis] + a.kernelSize[axis] - input[axis] - before[axis]
            if needed > declared[axis] { right[axis] = needed; extends = true }
        }
        paddingR = MemoryDescriptor.dims(right)
        extendsPastPadding = extends
    }

    /// Per output position, kernel area / PyTorch's divisor (the window clipped to the
    /// padded input), for average pooling that counts padding.
    func includePaddingCorrection(_ a: Pool2dAttributes, input: [Int], output: [Int]) -> [Float] {
        var factors: [Float] = []
        factors.reserveCapacity(output[0] * output[1])
        for oh in 0..<output[0] {
            let hs = oh * a.stride[0] - a.padding.top
            let hSize = min(hs + a.kernelSize[0], input[0] + a.padding.bottom) - hs
            for ow in 0..<output[1] {
                let ws = ow * a.stride[1] - a.padding.left
                let wSize = min(ws + a.kernelSize[1], input[1] + a.padding.right) - ws
                factors.append(Float(a.kernelSize[0] * a.kernelSize[1]) / Float(hSize * wSize))
            }
        }
        return factors
    }
}
