import CDNNL

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension DNNLExecutor {
    /// Whether node `i`'s backward must produce the gradient of input `slot`.
    func needsInputGradient(_ i: Int, _ slot: Int) -> Bool {
        requiresGradient[graph.nodes[i].inputs[slot]]
    }

    /// The persistent gradient tensor of parameter `name` (created on first use).
    func parameterGradient(_ name: String) -> Tensor {
        if let g = parameterGradients[name] { return g }
        let g = Tensor(zeros: graph.parameters[name]!.shape)
        parameterGradients[name] = g
        return g
    }

    /// Plans node `i`'s backward pass.
    func compileBackward(_ i: Int) throws {
        let node = graph.nodes[i]
        let t = backwardTime(i)
        let dy = outputGradient(i)
        switch node.op {
        case .input:
            break

        case let .conv2d(a):
            try compileConvolutionBackward(i, a)

        case let .batchNorm(a):
            let forward = forwardPrimitive[i]!
            var dataMD = inputMDs[i][0]
            var diffMD = valueMD[i]
            var desc = dnnl_batch_normalization_desc_t()
            let flags = dnnl_use_scale.rawValue | dnnl_use_shift.rawValue
            try dnnlCheck(dnnl_batch_normalization_backward_desc_init(&desc, dnnl_backward, &diffMD, &dataMD, batchNormEpsilon(a.eps), flags),
                          "describe batch norm backward")
            let p = try primitive(&desc, hint: forward, name: "\(node.name) batchnorm backward")
            let target = needsInputGradient(i, 0) ? gradientTarget(i, 0, p.query(dnnl_query_diff_src_md))
                                                  : newBuffer(p.query(dnnl_query_diff_src_md), at: t)
            addPrimitive(p, [(DNNL_ARG_SRC, .buffer(inputBuffers[i][0])), (DNNL_ARG_MEAN, .buffer(saved[i]["mean"]!)),
                             (DNNL_ARG_VARIANCE, .buffer(saved[i]["variance"]!)), (DNNL_ARG_DIFF_DST, .buffer(dy)),
                             (DNNL_ARG_SCALE, try external(graph.parameters[node.parameterName("weight")]!)),
                             (DNNL_ARG_SHIFT, try external(graph.parameters[node.parameterName("bias")]!)),
                             (DNNL_ARG_DIFF_SRC, .buffer(target)),
                             (DNNL_ARG_DIFF_SCALE, try external(parameterGradient(node.parameterName("weight")))),
                             (DNNL_ARG_DIFF_SHIFT, try external(parameterGradient(node.parameterName("bias"))))], at: t)
            if needsInputGradient(i, 0) { try finishGradient(i, 0, target: target) }

        case .relu:
            try compileEltwiseBackward(i, dnnl_eltwise_relu, 0, 0)
        case .relu6:
            try compileEltwiseBackward(i, dnnl_eltwise_clip_v2, 0, 6)
        case .hardSwish:
            try compileEltwiseBackward(i, dnnl_eltwise_hardswish, 0, 0)
        case .sigmoid:
            try compileEltwiseBackward(i, dnnl_eltwise_logistic, 0, 0)
        case let .leakyRelu(negativeSlope):
            try compileEltwiseBackward(i, dnnl_eltwise_relu, Float(negativeSlope), 0)
        case let .elu(alpha):
            try compileEltwiseBackward(i, dnnl_eltwise_elu, Float(alpha), 0)
        case .tanh:
            try compileEltwiseBackward(i, dnnl_eltwise_tanh, 0, 0)
        case .silu:
            try compileEltwiseBackward(i, dnnl_eltwise_swish, 1, 0)
        case .hardSigmoid:
            guard needsInputGradient(i, 0) else { break }
            let x = inputBuffers[i][0]
            let target = gradientTarget(i, 0, inputMDs[i][0])
            addSwift(at: t, touching: [dy, x, target]) { ex in
                hardSigmoidBackward(ex.floatPointer(target), ex.floatPointer(dy), ex.floatPointer(x), count: ex.floatCount(target))
            }
            try finishGradient(i, 0, target: target)
        case let .prelu(perChannel):
            let x = inputBuffers[i][0]
            let s = shapes[i]
            let batch = batchSize
            let weight = graph.parameters[node.parameterName("weight")]!
            let dWeight = parameterGradient(node.parameterName("weight"))
            let target = needsInputGradient(i, 0) ? gradientTarget(i, 0, inputMDs[i][0]) : nil
            addSwift(at: t, touching: [dy, x] + (target.map { [$0] } ?? [])) { ex in
                preluBackward(dInput: target.map { ex.floatPointer($0) }, dWeight: dWeight.floats.baseAddress!,
                              dOutput: ex.floatPointer(dy), input: ex.floatPointer(x), weight: weight.floats.baseAddress!,
                              batch: batch, channels: s[0], plane: s.elementCount / s[0], shared: !perChannel)
            }
            if let target { try finishGradient(i, 0, target: target) }

        case let .localResponseNorm(a):
            guard needsInputGradient(i, 0) else { break }
            var dataMD = inputMDs[i][0]
            var diffMD = valueMD[i]
            var desc = dnnl_lrn_desc_t()
            try dnnlCheck(dnnl_lrn_backward_desc_init(&desc, dnnl_lrn_across_channels, &diffMD, &dataMD, dnnl_dim_t(a.size),
                                                      Float(a.alpha), Float(a.beta), Float(a.k)), "describe lrn backward")
            let p = try primitive(&desc, hint: forwardPrimitive[i]!, name: "\(node.name) lrn backward")
            let target = gradientTarget(i, 0, p.query(dnnl_query_diff_src_md))
            var args: [(Int32, Argument)] = [(DNNL_ARG_SRC, .buffer(inputBuffers[i][0])), (DNNL_ARG_DIFF_DST, .buffer(dy)),
                                             (DNNL_ARG_DIFF_SRC, .buffer(target))]
            if let workspace = saved[i]["workspace"] { args.append((DNNL_ARG_WORKSPACE, .buffer(workspace))) }
            addPrimitive(p, args, at: t)
            try finishGradient(i, 0, target: target)
        case let .pad(a):
            guard needsInputGradient(i, 0) else { break }
            let s = shapes[node.inputs[0]]
            let planes = batchSize * s[0]
            let target = gradientTarget(i, 0, inputMDs[i][0])
            addSwift(at: t, touching: [dy, target]) { ex in
                padBackward(dInput: ex.floatPointer(target), dOutput: ex.floatPointer(dy), planes: planes, height: s[1],
                            width: s[2], attributes: a)
            }
            try finishGradient(i, 0, target: target)

        case let .maxPool(a):
            if let pooling = maxPooling[i] {
                try compileBlockedMaxPoolingBackward(i, pooling)
            } else {
                try compilePoolingBackward(i, a, algorithm: dnnl_pooling_max)
            }
        case let .avgPool(a):
            try compilePoolingBackward(i, a, algorithm: a.countIncludePad ? dnnl_pooling_avg_include_padding : dnnl_pooling_avg_exclude_padding)
        case .globalAvgPool:
            let src = fullShape(node.inputs[0])
            try compilePoolingBackward(i, Pool2dAttributes(kernelSize: [src[2], src[3]], stride: [1, 1]),
                                       algorithm: dnnl_pooling_avg_exclude_padding)

        case let .linear(a):
            let forward = forwardPrimitive[i]!
            let src = fullShape(node.inputs[0])
            var srcMD = inputMDs[i][0]
            var dstMD = valueMD[i]
            var diffWeightsMD = try MemoryDescriptor.any([a.outFeatures, src[1]])
            var diffBiasMD = a.bias ? try MemoryDescriptor.plain([a.outFeatures]) : dnnl_memory_desc_t()
            var weightsDesc = dnnl_inner_product_desc_t()
            try dnnlCheck(dnnl_inner_product_backward_weights_desc_init(&weightsDesc, &srcMD, &diffWeightsMD,
                                                                        &diffBiasMD, &dstMD),
                          "describe inner product backward weights")
            let pw = try primitive(&weightsDesc, hint: forward, name: "\(node.name) linear backward weights")
            let weightName = node.parameterName("weight")
            let dWeight = try gradientArgument(weightName, plainShape: [a.outFeatures, src[1]],
                                               layout: pw.query(dnnl_query_diff_weights_md), at: t)
            var args: [(Int32, Argument)] = [(DNNL_ARG_SRC, .buffer(inputBuffers[i][0])), (DNNL_ARG_DIFF_DST, .buffer(dy)),
                                             (DNNL_ARG_DIFF_WEIGHTS, dWeight.argument)]
            if a.bias {
                args.append((DNNL_ARG_DIFF_BIAS, try external(parameterGradient(node.parameterName("bias")))))
            }
            addPrimitive(pw, args, at: t)
            dWeight.finish()
            if needsInputGradient(i, 0) {
                var weightsMD = try MemoryDescriptor.any([a.outFeatures, src[1]])
                var dataDesc = dnnl_inner_product_desc_t()
                try dnnlCheck(dnnl_inner_product_backward_data_desc_init(&dataDesc, &srcMD, &weightsMD, &dstMD),
                              "describe inner product backward data")
                let pd = try primitive(&dataDesc, hint: forward, name: "\(node.name) linear backward data")
                let weights = try backwardWeights(i, name: weightName, plainShape: [a.outFeatures, src[1]],
                                                  layout: pd.query(dnnl_query_weights_md), at: t)
                let target = gradientTarget(i, 0, srcMD)
                addPrimitive(pd, [(DNNL_ARG_DIFF_DST, .buffer(dy)), (DNNL_ARG_WEIGHTS, weights),
                                  (DNNL_ARG_DIFF_SRC, .buffer(target))], at: t)
                try finishGradient(i, 0, target: target)
            }

        case .add:
            for slot in 0..<2 where needsInputGradient(i, slot) {
                let target = gradientTarget(i, slot, valueMD[i])
                addSwift(at: t, touching: [dy, target]) { ex in
                    memcpy(ex.floatPointer(target), ex.floatPointer(dy), ex.buffers[target].bytes)
                }
                try finishGradient(i, slot, target: target)
            }

        case .mul:
            // Plain Swift: the gate's gradient is a sum over H and W.
            let lhsShape = shapes[node.inputs[0]], rhsShape = shapes[node.inputs[1]]
            let plainLhs = try plainMD(node.inputs[0]), plainRhs = try plainMD(node.inputs[1])
            let dyPlain = try converted(dy, to: plainLhs, at: t, name: "\(node.name) gradient to plain")
            let lhs = try converted(inputBuffers[i][0], to: plainLhs, at: t, name: "\(node.name) input 0 to plain")
            let rhs = try converted(inputBuffers[i][1], to: plainRhs, at: t, name: "\(node.name) input 1 to plain")
            let dLhs = needsInputGradient(i, 0) ? gradientTarget(i, 0, plainLhs) : nil
            let dRhs = needsInputGradient(i, 1) ? gradientTarget(i, 1, plainRhs) : nil
            let rows = batchSize * lhsShape[0]
            let plane = lhsShape.elementCount / lhsShape[0], rhsPlane = rhsShape.elementCount / rhsShape[0]
            addSwift(at: t, touching: [dyPlain, lhs, rhs] + [dLhs, dRhs].compactMap { $0 }) { ex in
                multiplyBackward(dLhs: dLhs.map { ex.floatPointer($0) }, dRhs: dRhs.map { ex.floatPointer($0) },
                                 dOutput: ex.floatPointer(dyPlain), lhs: ex.floatPointer(lhs), rhs: ex.floatPointer(rhs),
                                 rows: rows, plane: plane, rhsPlane: rhsPlane)
            }
            if let dLhs { try finishGradient(i, 0, target: dLhs) }
            if let dRhs { try finishGradient(i, 1, target: dRhs) }

        case .concat:
            let blocks = node.inputs.map { shapes[$0].elementCount }
            let batch = batchSize
            for slot in node.inputs.indices where needsInputGradient(i, slot) {
                let target = gradientTarget(i, slot, inputMDs[i][slot])
                addSwift(at: t, touching: [dy, target]) { ex in
                    concatChannelsBackward(dInput: ex.floatPointer(target), dOutput: ex.floatPointer(dy),
                                           blockSizes: blocks, slot: slot, batch: batch)
                }
                try finishGradient(i, slot, target: target)
            }

        case let .channelShuffle(groups):
            guard needsInputGradient(i, 0) else { break }
            let s = shapes[i]
            let batch = batchSize
            let target = gradientTarget(i, 0, inputMDs[i][0])
            if let block = try MemoryDescriptor.pixelChannelBlock(inputMDs[i][0], shape: fullShape(i)), s[0] % block == 0 {
                addSwift(at: t, touching: [dy, target], label: "\(node.name) channelShuffle backward (blocked)") { ex in
                    channelShuffleBlocked(output: ex.floatPointer(target), input: ex.floatPointer(dy), batch: batch, channels: s[0],
                                          plane: s[1] * s[2], groups: s[0] / groups, block: block)
                }
                try finishGradient(i, 0, target: target)
                break
            }
            addSwift(at: t, touching: [dy, target]) { ex in
                channelShuffle(output: ex.floatPointer(target), input: ex.floatPointer(dy), batch: batch, channels: s[0],
                               plane: s[1] * s[2], groups: s[0] / groups)
            }
            try finishGradient(i, 0, target: target)

        case let .channelSlice(start, count):
            guard needsInputGradient(i, 0) else { break }
            let source = shapes[node.inputs[0]]
            let plane = source.elementCount / source[0]
            let batch = batchSize
            let target = gradientTarget(i, 0, inputMDs[i][0])
            addSwift(at: t, touching: [dy, target]) { ex in
                channelSliceBackward(dInput: ex.floatPointer(target), dOutput: ex.floatPointer(dy), batch: batch,
                                     channels: source[0], plane: plane, start: start, count: count)
            }
            try finishGradient(i, 0, target: target)

        case .flatten, .unflatten:
            guard needsInputGradient(i, 0) else { break }
            let target = gradientTarget(i, 0, inputMDs[i][0])
            addSwift(at: t, touching: [dy, target]) { ex in
                memcpy(ex.floatPointer(target), ex.floatPointer(dy), ex.buffers[target].bytes)
            }
            try finishGradient(i, 0, target: target)

        case .dropout:
            guard needsInputGradient(i, 0) else { break }
            let target = gradientTarget(i, 0, inputMDs[i][0])
            if let mask = saved[i]["mask"] {
                addSwift(at: t, touching: [dy, target, mask]) { ex in
                    multiply(ex.floatPointer(target), ex.floatPointer(dy), ex.floatPointer(mask), count: ex.floatCount(target))
                }
            } else {
                addSwift(at: t, touching: [dy, target]) { ex in
                    memcpy(ex.floatPointer(target), ex.floatPointer(dy), ex.buffers[target].bytes)
                }
            }
            try finishGradient(i, 0, target: target)

        case .softmax:
            guard needsInputGradient(i, 0) else { break }
            let y = valueBuffer[i]
            let features = shapes[i][0]
            let batch = batchSize
            let target = gradientTarget(i, 0, inputMDs[i][0])
            addSwift(at: t, touching: [dy, y, target]) { ex in
                softmaxRowsBackward(dInput: ex.floatPointer(target), dOutput: ex.floatPointer(dy), output: ex.floatPointer(y),
                                    rows: batch, columns: features)
            }
            try finishGradient(i, 0, target: target)
        }
    }

    /// `buffer` in layout `md`: itself when its layout already is `md`, else a copy made by a
    /// reorder at `time`.
    func converted(_ buffer: Int, to md: dnnl_memory_desc_t, at time: Int, name: String) throws -> Int {
        if MemoryDescriptor.equal(buffers[buffer].md, md) {
            touch(buffer, time)
            return buffer
        }
        let copy = newBuffer(md, at: time)
        let r = try reorder(from: buffers[buffer].md, to: md, name: name)
        addPrimitive(r, [(DNNL_ARG_FROM, .buffer(buffer)), (DNNL_ARG_TO, .buffer(copy))], at: time)
        return copy
    }

    /// Forgets a primitive that was created but will not run.
    func discard(_ p: DNNLPrimitive) {
        primitives.removeAll { $0 === p }
    }

    /// Where a weights-gradient primitive writes: the plain gradient tensor itself, or a
    /// buffer in the primitive's layout reordered into it afterwards (`finish`).
    func gradientArgument(_ name: String, plainShape: [Int], layout: dnnl_memory_desc_t,
                          at time: Int) throws -> (argument: Argument, finish: () -> Void) {
        let tensor = parameterGradient(name)
        let plain = try MemoryDescriptor.plain(plainShape)
        let destination = try external(tensor, shape: plainShape)
        if MemoryDescriptor.equal(plain, layout) { return (destination, {}) }
        let buffer = newBuffer(layout, at: time)
        let r = try reorder(from: layout, to: plain, name: "gradient of \(name) to plain")
        return (.buffer(buffer), { [unowned self] in
            self.addPrimitive(r, [(DNNL_ARG_FROM, .buffer(buffer)), (DNNL_ARG_TO, destination)], at: time)
        })
    }

    /// The weights in the layout a backward-data primitive wants: the forward pass's copy when
    /// the layouts agree, else the plain parameter or a fresh reorder at `time`.
    func backwardWeights(_ i: Int, name: String, plainShape: [Int], layout: dnnl_memory_desc_t,
                         at time: Int) throws -> Argument {
        if let forwardCopy = saved[i]["weights"], MemoryDescriptor.equal(buffers[forwardCopy].md, layout) {
            touch(forwardCopy, time)
            return .buffer(forwardCopy)
        }
        return try weightArgument(i, name: name, plainShape: plainShape, layout: layout, key: "backwardWeights", at: time)
    }

    func compileEltwiseBackward(_ i: Int, _ algorithm: dnnl_alg_kind_t, _ alpha: Float, _ beta: Float) throws {
        guard needsInputGradient(i, 0) else { return }
        var dataMD = inputMDs[i][0]
        var diffMD = valueMD[i]
        var desc = dnnl_eltwise_desc_t()
        try dnnlCheck(dnnl_eltwise_backward_desc_init(&desc, algorithm, &diffMD, &dataMD, alpha, beta), "describe eltwise backward")
        let p = try primitive(&desc, hint: forwardPrimitive[i]!, name: "\(graph.nodes[i].name) \(graph.nodes[i].op.kind) backward")
        let t = backwardTime(i)
        let target = gradientTarget(i, 0, p.query(dnnl_query_diff_src_md))
        addPrimitive(p, [(DNNL_ARG_SRC, .buffer(inputBuffers[i][0])), (DNNL_ARG_DIFF_DST, .buffer(outputGradient(i))),
                         (DNNL_ARG_DIFF_SRC, .buffer(target))], at: t)
        try finishGradient(i, 0, target: target)
    }

    func compilePoolingBackward(_ i: Int, _ a: Pool2dAttributes, algorithm: dnnl_alg_kind_t) throws {
        guard needsInputGradient(i, 0) else { return }
        let node = graph.nodes[i]
        let src = fullShape(node.inputs[0])
        let dst = fullShape(i)
        var diffSrcMD = inputMDs[i][0]
        var diffDstMD = valueMD[i]
        let geometry = PoolingGeometry(a, input: [src[2], src[3]], output: [dst[2], dst[3]])
        var desc = dnnl_pooling_v2_desc_t()
        try dnnlCheck(dnnl_pooling_v2_backward_desc_init(&desc, algorithm, &diffSrcMD, &diffDstMD, geometry.strides,
                                                         geometry.kernel, geometry.dilation, geometry.paddingL,
                                                         geometry.paddingR), "describe pooling backward")
        let p = try primitive(&desc, hint: forwardPrimitive[i]!, name: "\(node.name) \(node.op.kind) backward")
        let t = backwardTime(i)
        var dy = outputGradient(i)
        if saved[i]["rescale"] != nil {
            // The forward scaled its output per position; scale the gradient the same way.
            let factors = geometry.includePaddingCorrection(a, input: [src[2], src[3]], output: [dst[2], dst[3]])
            let planes = dst[0] * dst[1]
            let scaled = newBuffer(valueMD[i], at: t)
            let source = dy
            addSwift(at: t, touching: [source, scaled]) { ex in
                memcpy(ex.floatPointer(scaled), ex.floatPointer(source), ex.buffers[scaled].bytes)
                scalePlanes(ex.floatPointer(scaled), factors: factors, planes: planes)
            }
            dy = scaled
        }
        let target = gradientTarget(i, 0, diffSrcMD)
        var args: [(Int32, Argument)] = [(DNNL_ARG_DIFF_DST, .buffer(dy)), (DNNL_ARG_DIFF_SRC, .buffer(target))]
        if let workspace = saved[i]["workspace"] { args.append((DNNL_ARG_WORKSPACE, .buffer(workspace))) }
        addPrimitive(p, args, at: t)
        try finishGradient(i, 0, target: target)
    }
}
