import CDNNL

extension DNNLExecutor {
    /// Plans inference convolution `i` (one input channel) with what ``InferenceFusion``
    /// fused into it (batch norm folded, ReLU, max pooling) on ``FewChannelConvolution``, in
    /// the channel block of oneDNN's direct primitive `direct` (8 where that is plain), which
    /// is then discarded. The destination is the pooling's output when one is fused; when that
    /// pooling's only reader is an int8 convolution (an int8 model's first layer kept in
    /// f32), it is stored quantised as that convolution reads it, 8-bit NHWC, so no reorder
    /// runs between them.
    func compileFewChannelConvolution(_ i: Int, _ a: Conv2dAttributes, fusion: InferenceFusion.Convolution,
                                      weightShape: [Int], direct: DNNLPrimitive) throws {
        let node = graph.nodes[i]
        let t = forwardTime(i)
        let src = fullShape(node.inputs[0]), convolutionOutput = fullShape(i)
        let last = fusion.pool ?? i
        let dst = fullShape(last)
        let block = try MemoryDescriptor.channelBlock(direct.query(dnnl_query_dst_md), shape: convolutionOutput) ?? 8
        discard(direct)
        let pooling: Pool2dAttributes? = fusion.pool.map {
            guard case let .maxPool(p) = graph.nodes[$0].op else { preconditionFailure("InferenceFusion fuses only a max pooling") }
            return p
        }
        let quantized = fusion.pool.flatMap(quantizedForInt8Convolution)
        let kernel = FewChannelConvolution(a, input: src, convolutionOutput: convolutionOutput, relu: fusion.activation != nil,
                                           pooling: pooling, output: dst, block: block, quantizedOutput: quantized)
        let x = try input(i, 0, as: try MemoryDescriptor.plain(src))
        let y: Int
        if let quantized {
            y = output(i, try MemoryDescriptor.channelsLast(dst, dtype: MemoryDescriptor.dataType(quantized.dtype)))
            storedQuantization[i] = quantized
        } else {
            y = output(i, try MemoryDescriptor.blocked(dst, block: block))
        }

        // Plain weights and bias (batch norm folded in when there is one), packed when the
        // executor is made and on reloadParameters().
        let weights: (DNNLExecutor) -> UnsafePointer<Float>
        let bias: (DNNLExecutor) -> UnsafePointer<Float>?
        if let norm = fusion.batchNorm {
            let plain = try MemoryDescriptor.plain(weightShape)
            let (foldedWeights, foldedBias) = try foldedWeightArguments(i, norm: norm, plainShape: weightShape, layout: plain)
            guard case let .buffer(w) = foldedWeights, case let .buffer(b) = foldedBias else {
                preconditionFailure("folded weights in their plain layout are the executor's own buffers")
            }
            weights = { UnsafePointer($0.floatPointer(w)) }
            bias = { UnsafePointer($0.floatPointer(b)) }
        } else {
            let w = weightTensor(node.parameterName("weight"))
            let b = a.bias ? graph.parameters[node.parameterName("bias")]! : nil
            weights = { _ in UnsafePointer(w.floats.baseAddress!) }
            bias = { _ in b.map { UnsafePointer($0.floats.baseAddress!) } }
        }
        let packed = newBuffer(try MemoryDescriptor.plain([kernel.packedFloats]), at: 0)
        touch(packed, endTime)
        preparationSteps.append(.swift("pack \(node.name) for the few-channel kernel") { ex in
            kernel.pack(weights: weights(ex), bias: bias(ex), into: ex.floatPointer(packed))
        })
        let threads = max(1, configuration.threads)  // the executor runs on this many OpenMP threads
        let workspaceFloats = kernel.workspaceFloats(threads: threads)
        let workspace = workspaceFloats > 0 ? newBuffer(try MemoryDescriptor.plain([workspaceFloats]), at: t) : nil

        var name = "\(node.name) conv forward"
        if let norm = fusion.batchNorm { name += " + \(graph.nodes[norm].name)" }
        if fusion.activation != nil { name += " + relu" }
        if let pool = fusion.pool { name += " + \(graph.nodes[pool].name)" }
        implementationNotes.append("\(node.name) conv: few-channel kernel from \(MemoryDescriptor.describe(inputMDs[i][0])) to "
                                   + "\(MemoryDescriptor.describe(valueMD[i]))"
                                   + (fusion.pool.map { ", \(graph.nodes[$0].name) fused" } ?? ""))
        addSwift(at: t, touching: [x, y, packed] + (workspace.map { [$0] } ?? []), label: "\(name) (few channels)") { ex in
            kernel.forward(source: ex.floatPointer(x), packed: ex.floatPointer(packed), destination: UnsafeMutableRawPointer(ex.floatPointer(y)),
                           workspace: workspace.map { ex.floatPointer($0) })
        }
    }

    /// The quantisation of pooling `pool`'s output when its only reader is an int8
    /// convolution (which reads it quantised that way) and it is no graph output.
    func quantizedForInt8Convolution(_ pool: Int) -> ActivationQuantization? {
        guard let q = graph.nodes[pool].quantization?.output, !graph.outputs.contains(pool),
              graph.consumers[pool].count == 1, case .conv2d = graph.nodes[graph.consumers[pool][0]].op,
              graph.nodes[graph.consumers[pool][0]].quantization?.weights != nil else { return nil }
        return q
    }
}

extension MemoryDescriptor {
    /// `shape` (`[N, C, H, W]`) channels-last (`nhwc`, oneDNN's `acdb`).
    static func channelsLast(_ shape: [Int], dtype: dnnl_data_type_t) throws -> dnnl_memory_desc_t {
        precondition(shape.count == 4, "no nhwc layout for \(shape)")
        var md = dnnl_memory_desc_t()
        try dnnlCheck(dnnl_memory_desc_init_by_tag(&md, 4, dims(shape), dtype, dnnl_acdb), "describe nhwc memory \(shape)")
        return md
    }

    /// `shape` (`[N, C, H, W]`) in oneDNN's `nChw8c` or `nChw16c` f32 layout.
    static func blocked(_ shape: [Int], block: Int) throws -> dnnl_memory_desc_t {
        precondition(shape.count == 4 && (block == 8 || block == 16), "no nChw\(block)c layout for \(shape)")
        var md = dnnl_memory_desc_t()
        try dnnlCheck(dnnl_memory_desc_init_by_tag(&md, 4, dims(shape), dnnl_f32, block == 8 ? dnnl_nChw8c : dnnl_nChw16c),
                      "describe nChw\(block)c memory \(shape)")
        return md
    }
}
