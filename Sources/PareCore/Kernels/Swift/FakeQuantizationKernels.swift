// Fake quantisation of activations in place, for quantisation-aware training (the executor's
// kernels; `Kernels/Reference/FakeQuantization.swift` is their oracle).

/// Rounds `values` in place as the int8 model stores them (``ActivationQuantization/fakeQuantize(_:)``)
/// and, when `mask` is given, writes 1 where the value was inside the clipping range
/// (ends included), else 0: what the backward pass lets through.
func fakeQuantizeForward(_ values: UnsafeMutablePointer<Float>, mask: UnsafeMutablePointer<UInt8>?, count: Int,
                         quantization q: ActivationQuantization) {
    let clip = q.clippingRange
    if let mask {
        for k in 0..<count {
            let x = values[k]
            mask[k] = clip.lowerBound <= x && x <= clip.upperBound ? 1 : 0
            values[k] = q.fakeQuantize(x)
        }
    } else {
        for k in 0..<count { values[k] = q.fakeQuantize(values[k]) }
    }
}

/// The straight-through estimator: `dValues` (the gradient of the fake-quantised output,
/// becoming that of its input) is zeroed where `mask` is 0.
func fakeQuantizeBackward(_ dValues: UnsafeMutablePointer<Float>, mask: UnsafePointer<UInt8>, count: Int) {
    for k in 0..<count where mask[k] == 0 { dValues[k] = 0 }
}

/// The smallest and largest of `values` (NaN is skipped; `(0, 0)` when there are none).
func extremes(_ values: UnsafePointer<Float>, count: Int) -> (minimum: Float, maximum: Float) {
    var low = Float.infinity, high = -Float.infinity
    for k in 0..<count {
        let x = values[k]
        if x < low { low = x }
        if x > high { high = x }
    }
    return low <= high ? (low, high) : (0, 0)
}
