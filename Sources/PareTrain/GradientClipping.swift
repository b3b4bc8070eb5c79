import PareCore

/// Scales `gradients` in place so that their total L2 norm is at most `maxNorm`, exactly as
/// `torch.nn.utils.clip_grad_norm_(parameters, maxNorm)` (norm type 2, `error_if_nonfinite`
/// false), and returns the total norm before clipping.
///
/// The total norm is, as in torch, the L2 norm of the per-gradient L2 norms, each rounded to
/// f32 (sums of squares are accumulated here in double precision, where torch uses f32
/// lanes, so a norm can differ from torch's in its last bit). Every gradient is multiplied by `min(maxNorm / (norm + 1e-6), 1)`,
/// computed in f32 as torch computes it (`1 / (norm + 1e-6) * maxNorm`, its
/// `float / Tensor`), so gradients are left unchanged unless `norm + 1e-6 > maxNorm`. A NaN or infinite norm is returned
/// as is and, as in torch, makes the gradients NaN: check the loss first.
@discardableResult
public func clipGradientNorm(_ gradients: [String: Tensor], maxNorm: Float) -> Float {
    precondition(maxNorm >= 0, "clipGradientNorm: invalid maxNorm \(maxNorm)")
    var sumOfSquares = 0.0
    for gradient in gradients.values {
        var tensorSum = 0.0
        for value in gradient.floats { tensorSum += Double(value) * Double(value) }
        let tensorNorm = Double(Float(tensorSum.squareRoot()))  // torch's per-tensor norm, an f32
        sumOfSquares += tensorNorm * tensorNorm
    }
    let norm = Float(sumOfSquares.squareRoot())
    let coefficient = min(1 / (norm + 1e-6) * maxNorm, 1)
    if !(coefficient == 1) {
        for gradient in gradients.values {
            let g = gradient.floats
            for i in 0..<g.count { g[i] *= coefficient }
        }
    }
    return norm
}
