import PareCore

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
        let outChannels = weight.shape[0]
        let block = weight.elementCount / max(outChannels, 1)
        let quantized = Tensor(zeros: weight.shape, dtype: .i8)
        let scales = Tensor(zeros: [outChannels])
        let w = weight.floats, s = scales.floats
        let q = quantized.storage.pointer.assumingMemoryBound(to: Int8.self)
        let level = Float(maxLevel)
        for o in 0..<outChannels {
            var largest: Float = 0
            for k in (o * block)..<((o + 1) * block) { largest = max(largest, abs(w[k])) }
            let scale = largest > 0 ? largest / level : 1
            let factor: Float = doubled ? 2 : 1
            s[o] = scale / factor
            for k in (o * block)..<((o + 1) * block) {
                q[k] = Int8(factor * min(max((w[k] / scale).rounded(.toNearestOrEven), -level), level))
            }
        }
        return (quantized, scales)
    }
}
