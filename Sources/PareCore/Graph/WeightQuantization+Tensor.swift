extension WeightQuantization {
    /// Symmetric per-output-channel quantisation of `weight` (`[O, ...]`): for each output
    /// channel `scale = max|W[o]| / maxLevel` (1 for an all-zero channel) and
    /// `q = round(W / scale)`, half to even. Returns the `i8` weights and the f32 scales.
    ///
    /// `doubled` stores 7-bit levels as even 8-bit values with half the scale (the same real
    /// weights). oneDNN's int8 convolution on CPUs without VNNI halves the weights of a layer
    /// with signed (s8) input to keep `vpmaddubsw` from saturating, rounding odd values; even
    /// values halve exactly, so the layer then computes exactly the weights stored here.
    public func quantize(_ weight: Tensor, doubled: Bool = false) -> (weights: Tensor, scales: Tensor) {
        let quantized = Tensor(zeros: weight.shape, dtype: .i8)
        let scales = Tensor(zeros: [weight.shape[0]])
        let s = scales.floats
        let q = quantized.storage.pointer.assumingMemoryBound(to: Int8.self)
        let factor: Float = doubled ? 2 : 1
        forEachChannel(of: weight) { o, scale, block, level in
            s[o] = scale / factor
            for (k, l) in zip(block, level) { q[k] = Int8(factor * l) }
        }
        return (quantized, scales)
    }

    /// Writes into `result` (f32, `weight`'s shape) the real weights that ``quantize(_:doubled:)``
    /// stores, `scale[o] · q`: the fake-quantised weights of quantisation-aware training.
    /// Doubling does not change them (7-bit levels stored doubled at half the scale are the
    /// same values), so there is no `doubled` here.
    public func fakeQuantize(_ weight: Tensor, into result: Tensor) {
        precondition(result.shape == weight.shape && result.dtype == .f32, "fake-quantised weights need an f32 tensor of the same shape")
        let r = result.floats
        forEachChannel(of: weight) { _, scale, block, level in
            for (k, l) in zip(block, level) { r[k] = scale * l }
        }
    }

    /// Calls `body(o, scale, indices, levels)` for every output channel `o` of `weight`, with
    /// the channel's scale, its element indices and their integer levels
    /// `clamp(round(W / scale), ±maxLevel)` (as floats, lazily).
    private func forEachChannel(of weight: Tensor,
                                _ body: (Int, Float, Range<Int>, LazyMapSequence<Range<Int>, Float>) -> Void) {
        let outChannels = weight.shape[0]
        let count = weight.elementCount / max(outChannels, 1)
        let w = weight.floats
        let top = Float(maxLevel)
        for o in 0..<outChannels {
            let block = (o * count)..<((o + 1) * count)
            var largest: Float = 0
            for k in block { largest = max(largest, abs(w[k])) }
            let scale = largest > 0 ? largest / top : 1
            body(o, scale, block, block.lazy.map { min(max((w[$0] / scale).rounded(.toNearestOrEven), -top), top) })
        }
    }
}
