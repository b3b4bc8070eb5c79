import CDNNL

extension DNNLExecutor {
    /// Plans max pooling `i` on ``BlockedMaxPooling`` when oneDNN's primitive `direct` works on
    /// `nChw8c` or `nChw16c` (in and out), and returns whether it did; `direct` is then
    /// discarded and its layouts kept, so neighbouring ops need no reorders. In training the
    /// maxima's positions are kept for the backward pass.
    func compileBlockedMaxPooling(_ i: Int, _ a: Pool2dAttributes, direct: DNNLPrimitive) throws -> Bool {
        let node = graph.nodes[i]
        let src = fullShape(node.inputs[0]), dst = fullShape(i)
        guard BlockedMaxPooling.supports(a, input: src, output: dst) else { return false }
        let srcMD = direct.query(dnnl_query_src_md), dstMD = direct.query(dnnl_query_dst_md)
        guard let block = try MemoryDescriptor.channelBlock(srcMD, shape: src),
              try MemoryDescriptor.channelBlock(dstMD, shape: dst) == block else { return false }
        discard(direct)
        let pooling = BlockedMaxPooling(a, input: src, output: dst, block: block)
        maxPooling[i] = pooling
        let t = forwardTime(i)
        let x = try input(i, 0, as: srcMD)
        let y = output(i, dstMD)
        var touched = [x, y]
        var positions: Int?
        if mode == .training {
            let buffer = newBuffer(try MemoryDescriptor.plain([pooling.positionBytes], dtype: dnnl_u8), at: t)
            saved[i]["positions"] = buffer
            touched.append(buffer)
            positions = buffer
        }
        implementationNotes.append("\(node.name) maxPool: blocked max pooling on \(MemoryDescriptor.describe(srcMD))")
        addSwift(at: t, touching: touched, label: "\(node.name) maxPool forward (blocked)") { ex in
            pooling.forward(source: ex.floatPointer(x), destination: ex.floatPointer(y),
                            positions: positions.map { ex.bytePointer($0) })
        }
        return true
    }

    /// Plans the backward pass of a max pooling planned by ``compileBlockedMaxPooling``.
    func compileBlockedMaxPoolingBackward(_ i: Int, _ pooling: BlockedMaxPooling) throws {
        guard needsInputGradient(i, 0) else { return }
        let node = graph.nodes[i]
        let t = backwardTime(i)
        let dy = outputGradient(i)
        let positions = saved[i]["positions"]!
        let target = gradientTarget(i, 0, inputMDs[i][0])
        addSwift(at: t, touching: [dy, positions, target], label: "\(node.name) maxPool backward (blocked)") { ex in
            pooling.backward(destinationGradient: ex.floatPointer(dy), positions: ex.bytePointer(positions),
                             sourceGradient: ex.floatPointer(target))
        }
        try finishGradient(i, 0, target: target)
    }
}
