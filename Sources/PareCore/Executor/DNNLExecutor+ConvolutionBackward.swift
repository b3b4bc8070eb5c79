import CDNNL

extension DNNLExecutor {
    /// Plans convolution `i`'s backward pass: the weights' (and bias') gradient, then the
    /// input's when needed. Each runs on Winograd when the forward planned that pass there
    /// (``WinogradConvolution/passes(_:input:output:)``); a few-input-channel weights gradient
    /// runs on ``FewChannelWeightGradient``; everything else on oneDNN's direct primitives.
    func compileConvolutionBackward(_ i: Int, _ a: Conv2dAttributes) throws {
        let plan = winograd[i]
        if let plan, plan.passes.contains(.backwardWeights) {
            try compileWinogradWeightGradient(i, a, plan.convolution)
        } else if try !compileFewChannelWeightGradient(i, a) {
            try compileDirectWeightGradient(i, a)
        }
        guard needsInputGradient(i, 0) else { return }
        if let plan, plan.passes.contains(.backwardData) {
            try compileWinogradDataGradient(i, plan.convolution)
        } else {
            try compileDirectDataGradient(i, a)
        }
    }

    /// `[out, in, kh, kw]`, or `[groups, out/groups, in/groups, kh, kw]` for grouped ones.
    func convolutionWeightShape(_ i: Int, _ a: Conv2dAttributes) -> [Int] {
        let inChannels = fullShape(graph.nodes[i].inputs[0])[1]
        return a.groups == 1
            ? [a.outChannels, inChannels, a.kernelSize[0], a.kernelSize[1]]
            : [a.groups, a.outChannels / a.groups, inChannels / a.groups, a.kernelSize[0], a.kernelSize[1]]
    }

    /// Plans the weights' gradient on ``FewChannelWeightGradient`` when the convolution has 1
    /// to 4 input channels read in plain NCHW and an output gradient in `nChw8c`/`nChw16c`;
    /// returns whether it did.
    func compileFewChannelWeightGradient(_ i: Int, _ a: Conv2dAttributes) throws -> Bool {
        let node = graph.nodes[i]
        let src = fullShape(node.inputs[0]), dst = fullShape(i)
        guard FewChannelWeightGradient.supports(a, input: src, output: dst),
              MemoryDescriptor.equal(inputMDs[i][0], try MemoryDescriptor.plain(src)),
              let block = try MemoryDescriptor.channelBlock(valueMD[i], shape: dst) else { return false }
        let kernel = FewChannelWeightGradient(a, input: src, output: dst, block: block, threads: configuration.threads)
        implementationNotes.append("\(node.name) conv backward weights: few-channel kernel from \(MemoryDescriptor.describe(inputMDs[i][0])), "
                                   + "\(MemoryDescriptor.describe(valueMD[i]))")
        let t = backwardTime(i)
        let x = inputBuffers[i][0], dy = outputGradient(i)
        let workspace = newBuffer(try MemoryDescriptor.plain([kernel.workspaceFloats]), at: t)
        let dWeights = parameterGradient(node.parameterName("weight"))
        let dBias = a.bias ? parameterGradient(node.parameterName("bias")) : nil
        addSwift(at: t, touching: [x, dy, workspace], label: "\(node.name) conv backward weights (few channels)") { ex in
            kernel.backwardWeights(source: ex.floatPointer(x), destinationGradient: ex.floatPointer(dy),
                                   weightsGradient: dWeights.floats.baseAddress!, biasGradient: dBias?.floats.baseAddress,
                                   workspace: ex.floatPointer(workspace))
        }
        return true
    }

    /// A backward primitive of convolution `i`, described by `describe(src, weights, dst)`
    /// from the forward's layouts. Where oneDNN has only its reference kernel for those
    /// (e.g. maps smaller than the kernel), it is described again with layouts of oneDNN's
    /// choice, and that one is taken if it is optimised: `ownLayouts` then says the caller
    /// must reorder its inputs into the primitive's layouts.
    func convolutionBackwardPrimitive(
        _ i: Int, weightShape: [Int], name: String,
        _ describe: (inout dnnl_memory_desc_t, inout dnnl_memory_desc_t, inout dnnl_memory_desc_t) throws -> dnnl_convolution_desc_t
    ) throws -> (primitive: DNNLPrimitive, ownLayouts: Bool) {
        let forward = forwardPrimitive[i]!
        var srcMD = inputMDs[i][0], weightsMD = try MemoryDescriptor.any(weightShape), dstMD = valueMD[i]
        var desc = try describe(&srcMD, &weightsMD, &dstMD)
        let p = try primitive(&desc, hint: forward, name: name)
        guard p.isReference else { return (p, false) }
        var anySrc = try MemoryDescriptor.any(fullShape(graph.nodes[i].inputs[0])), anyDst = try MemoryDescriptor.any(fullShape(i))
        var anyWeights = try MemoryDescriptor.any(weightShape)
        var retry = try describe(&anySrc, &anyWeights, &anyDst)
        let alternative = try primitive(&retry, hint: forward, name: name)
        guard !alternative.isReference else {
            discard(alternative)
            return (p, false)
        }
        discard(p)
        return (alternative, true)
    }

    func compileDirectWeightGradient(_ i: Int, _ a: Conv2dAttributes) throws {
        let node = graph.nodes[i]
        let t = backwardTime(i)
        let dy = outputGradient(i)
        let weightShape = convolutionWeightShape(i, a)
        let geometry = ConvolutionGeometry(a)
        let x = inputBuffers[i][0]
        var diffBiasMD = a.bias ? try MemoryDescriptor.plain([a.outChannels]) : dnnl_memory_desc_t()
        let (pw, ownLayouts) = try convolutionBackwardPrimitive(i, weightShape: weightShape,
                                                                name: "\(node.name) conv backward weights") { src, weights, dst in
            var desc = dnnl_convolution_desc_t()
            try dnnlCheck(dnnl_dilated_convolution_backward_weights_desc_init(
                &desc, dnnl_convolution_direct, &src, &weights, &diffBiasMD, &dst,
                geometry.strides, geometry.dilates, geometry.paddingL, geometry.paddingR), "describe convolution backward weights")
            return desc
        }
        var xArg = x, dyArg = dy
        if ownLayouts {
            xArg = try converted(x, to: pw.query(dnnl_query_src_md), at: t, name: "\(node.name) backward weights src")
            dyArg = try converted(dy, to: pw.query(dnnl_query_diff_dst_md), at: t, name: "\(node.name) backward weights diff_dst")
        }
        var args: [(Int32, Argument)] = [(DNNL_ARG_SRC, .buffer(xArg)), (DNNL_ARG_DIFF_DST, .buffer(dyArg))]
        let dWeight = try gradientArgument(node.parameterName("weight"), plainShape: weightShape,
                                           layout: pw.query(dnnl_query_diff_weights_md), at: t)
        args.append((DNNL_ARG_DIFF_WEIGHTS, dWeight.argument))
        if a.bias {
            args.append((DNNL_ARG_DIFF_BIAS, try external(parameterGradient(node.parameterName("bias")))))
        }
        addPrimitive(pw, args, at: t)
        dWeight.finish()
    }

    func compileDirectDataGradient(_ i: Int, _ a: Conv2dAttributes) throws {
        let node = graph.nodes[i]
        let t = backwardTime(i)
        let dy = outputGradient(i)
        let weightShape = convolutionWeightShape(i, a)
        let geometry = ConvolutionGeometry(a)
        let (pd, ownLayouts) = try convolutionBackwardPrimitive(i, weightShape: weightShape,
                                                                name: "\(node.name) conv backward data") { src, weights, dst in
            var desc = dnnl_convolution_desc_t()
            try dnnlCheck(dnnl_dilated_convolution_backward_data_desc_init(
                &desc, dnnl_convolution_direct, &src, &weights, &dst,
                geometry.strides, geometry.dilates, geometry.paddingL, geometry.paddingR), "describe convolution backward data")
            return desc
        }
        let dyArg = ownLayouts
            ? try converted(dy, to: pd.query(dnnl_query_diff_dst_md), at: t, name: "\(node.name) backward data diff_dst") : dy
        let weights = try backwardWeights(i, name: node.parameterName("weight"), plainShape: weightShape,
                                          layout: pd.query(dnnl_query_weights_md), at: t)
        let target = gradientTarget(i, 0, pd.query(dnnl_query_diff_src_md))
        addPrimitive(pd, [(DNNL_ARG_DIFF_DST, .buffer(dyArg)), (DNNL_ARG_WEIGHTS, weights),
                          (DNNL_ARG_DIFF_SRC, .buffer(target))], at: t)
        try finishGradient(i, 0, target: target)
    }
}
