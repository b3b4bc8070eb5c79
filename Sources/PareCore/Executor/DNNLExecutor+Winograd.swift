import CDNNL

/// A training convolution some of whose passes run on ``WinogradConvolution``.
struct WinogradPlan {
    let convolution: WinogradConvolution
    let passes: Set<WinogradConvolution.Pass>
}

extension DNNLExecutor {
    /// Plans the passes of training convolution `i` that are worth running on
    /// ``WinogradConvolution`` (``WinogradConvolution/passes(input:output:)``), when it can run
    /// there and oneDNN's direct primitive `direct` works on `nChw8c` or `nChw16c`; those
    /// layouts are kept, so neighbouring ops need no reorders. Returns whether the forward
    /// pass was planned (then `direct` only serves as the backward primitives' hint).
    func compileWinogradConvolution(_ i: Int, _ a: Conv2dAttributes, direct: DNNLPrimitive) throws -> Bool {
        let node = graph.nodes[i]
        let src = fullShape(node.inputs[0]), dst = fullShape(i)
        guard mode == .training, configuration.winograd, WinogradConvolution.supports(a, input: src, output: dst) else {
            return false
        }
        let passes = WinogradConvolution.passes(input: src, output: dst)
        let srcMD = direct.query(dnnl_query_src_md), dstMD = direct.query(dnnl_query_dst_md)
        guard !passes.isEmpty, let block = try MemoryDescriptor.channelBlock(srcMD, shape: src),
              try MemoryDescriptor.channelBlock(dstMD, shape: dst) == block else { return false }
        let convolution = WinogradConvolution(a, input: src, output: dst, block: block)
        winograd[i] = WinogradPlan(convolution: convolution, passes: passes)
        let names = WinogradConvolution.Pass.allCases.filter(passes.contains).map { "\($0)" }.joined(separator: ", ")
        implementationNotes.append("\(node.name) conv: winograd F(4x4,3x3) on \(MemoryDescriptor.describe(srcMD)) -> "
                                   + "\(MemoryDescriptor.describe(dstMD)) for \(names)")
        guard passes.contains(.forward) else { return false }
        forwardPrimitive[i] = direct
        discard(direct)
        let t = forwardTime(i)
        let x = try input(i, 0, as: srcMD)
        let y = output(i, dstMD)
        let workspace = newBuffer(try MemoryDescriptor.plain([convolution.workspaceFloats(.forward)]), at: t)
        let weights = weightTensor(node.parameterName("weight"))
        let bias = a.bias ? graph.parameters[node.parameterName("bias")]! : nil
        addSwift(at: t, touching: [x, y, workspace], label: "\(node.name) conv forward (winograd)") { ex in
            convolution.forward(source: ex.floatPointer(x), weights: weights.floats.baseAddress!,
                                bias: bias.map { UnsafePointer($0.floats.baseAddress!) },
                                destination: ex.floatPointer(y), workspace: ex.floatPointer(workspace))
        }
        return true
    }

    /// Plans the weights' (and bias') gradient of convolution `i` on Winograd.
    func compileWinogradWeightGradient(_ i: Int, _ a: Conv2dAttributes, _ convolution: WinogradConvolution) throws {
        let node = graph.nodes[i]
        let t = backwardTime(i)
        let dy = outputGradient(i)
        let x = inputBuffers[i][0]
        let workspace = newBuffer(try MemoryDescriptor.plain([convolution.workspaceFloats(.backwardWeights)]), at: t)
        let dWeights = parameterGradient(node.parameterName("weight"))
        let dBias = a.bias ? parameterGradient(node.parameterName("bias")) : nil
        addSwift(at: t, touching: [x, dy, workspace], label: "\(node.name) conv backward weights (winograd)") { ex in
            convolution.backwardWeights(source: ex.floatPointer(x), destinationGradient: ex.floatPointer(dy),
                                        weightsGradient: dWeights.floats.baseAddress!, biasGradient: dBias?.floats.baseAddress,
                                        workspace: ex.floatPointer(workspace))
        }
    }

    /// Plans the input's gradient of convolution `i` on Winograd.
    func compileWinogradDataGradient(_ i: Int, _ convolution: WinogradConvolution) throws {
        let node = graph.nodes[i]
        let t = backwardTime(i)
        let dy = outputGradient(i)
        let workspace = newBuffer(try MemoryDescriptor.plain([convolution.workspaceFloats(.backwardData)]), at: t)
        let weights = weightTensor(node.parameterName("weight"))
        let target = gradientTarget(i, 0, inputMDs[i][0])
        addSwift(at: t, touching: [dy, target, workspace], label: "\(node.name) conv backward data (winograd)") { ex in
            convolution.backwardData(destinationGradient: ex.floatPointer(dy), weights: weights.floats.baseAddress!,
                                     sourceGradient: ex.floatPointer(target), workspace: ex.floatPointer(workspace))
        }
        try finishGradient(i, 0, target: target)
    }
}

extension MemoryDescriptor {
    /// The channel block of `md` for a kernel that moves channels within each pixel's block
    /// (``channelShuffleBlocked``): 8 or 16 for nChw8c and nChw16c, every channel for nhwc (one
    /// block holding all of a pixel's channels, the layout oneDNN's AVX-512 kernels pick), nil
    /// for any other layout.
    static func pixelChannelBlock(_ md: dnnl_memory_desc_t, shape: [Int]) throws -> Int? {
        if let block = try channelBlock(md, shape: shape) { return block }
        guard shape.count == 4 else { return nil }
        var nhwc = dnnl_memory_desc_t()
        try dnnlCheck(dnnl_memory_desc_init_by_tag(&nhwc, 4, dims(shape), dnnl_f32, dnnl_nhwc), "describe nhwc memory")
        return equal(nhwc, md) ? shape[1] : nil
    }

    /// 8 or 16 when `md` is `shape` (`[N, C, H, W]`) in oneDNN's `nChw8c` or `nChw16c`
    /// layout, else nil.
    static func channelBlock(_ md: dnnl_memory_desc_t, shape: [Int]) throws -> Int? {
        guard shape.count == 4 else { return nil }
        for (block, tag) in [(8, dnnl_nChw8c), (16, dnnl_nChw16c)] {
            var candidate = dnnl_memory_desc_t()
            try dnnlCheck(dnnl_memory_desc_init_by_tag(&candidate, 4, dims(shape), dnnl_f32, tag), "describe nChw\(block)c memory")
            if equal(candidate, md) { return block }
        }
        return nil
    }
}
