// Reference fake quantisation of an activation (quantisation-aware training), in any
// floating-point type: the test oracle of the executor's kernels and of the straight-through
// estimator.

/// `output = scale · (clamp(round(x / scale) + zeroPoint, range) − zeroPoint)`, rounding half to
/// even: what the int8 model stores in place of `x` (``ActivationQuantization/fakeQuantize(_:)``).
public func referenceFakeQuantizeForward<T: BinaryFloatingPoint>(output: inout [T], input: [T],
                                                                 quantization q: ActivationQuantization) {
    precondition(output.count == input.count, "fakeQuantize: count")
    let scale = T(q.scale), zero = T(q.zeroPoint)
    let lower = T(q.range.lowerBound), upper = T(q.range.upperBound)
    for i in input.indices {
        let level = min(max((input[i] / scale).rounded(.toNearestOrEven) + zero, lower), upper)
        output[i] = scale * (level - zero)
    }
}

/// The straight-through estimator: gradient 1 where `input` lies inside the clipping range
/// ``ActivationQuantization/clippingRange`` (ends included), 0 outside, where the output is
/// clamped and does not move with the input.
public func referenceFakeQuantizeBackward<T: BinaryFloatingPoint>(dInput: inout [T], dOutput: [T], input: [T],
                                                                  quantization q: ActivationQuantization) {
    precondition(dInput.count == input.count && dOutput.count == input.count, "fakeQuantize: count")
    let clip = q.clippingRange
    for i in input.indices where T(clip.lowerBound) <= input[i] && input[i] <= T(clip.upperBound) { dInput[i] += dOutput[i] }
}
