#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif
import PareCore

/// Softmax cross-entropy of `logits` (`[batch, classes]`) against class indices, averaged
/// over the batch, with its gradient: PyTorch's `F.cross_entropy(logits, labels,
/// label_smoothing: ε)`.
///
/// With label smoothing the target of each sample is `(1 - ε) * oneHot(label) + ε / classes`,
/// so `loss = mean_n [(1 - ε) * -log p[n, label] + ε / classes * Σ_c -log p[n, c]]` and
/// `dLogits[n, c] = (p[n, c] - target[n, c]) / batch`. The log-softmax is computed stably
/// (shifted by the row maximum, in double precision).
///
/// A NaN or infinite logit makes the returned loss non-finite: callers check
/// `loss.isFinite` before stepping the optimizer.
public func softmaxCrossEntropy(logits: Tensor, labels: [Int],
                                labelSmoothing: Float = 0) throws -> (loss: Float, dLogits: Tensor) {
    guard logits.shape.rank == 2, logits.dtype == .f32 else {
        throw LossError.invalidArgument("logits must be f32 [batch, classes], got \(logits.dtype.rawValue) \(logits.shape)")
    }
    let batch = logits.shape[0], classes = logits.shape[1]
    guard labels.count == batch else {
        throw LossError.invalidArgument("\(labels.count) labels for a batch of \(batch)")
    }
    guard labelSmoothing >= 0, labelSmoothing <= 1 else {
        throw LossError.invalidArgument("label smoothing \(labelSmoothing) not in [0, 1]")
    }
    let dLogits = Tensor(zeros: logits.shape)
    let x = logits.floats, dx = dLogits.floats
    let smoothing = Double(labelSmoothing)
    var total = 0.0
    for n in 0..<batch {
        let label = labels[n]
        guard label >= 0, label < classes else {
            throw LossError.invalidArgument("label \(label) of sample \(n) not in 0..<\(classes)")
        }
        let row = n * classes
        var maximum = -Float.infinity
        for c in 0..<classes { maximum = max(maximum, x[row + c]) }
        var sum = 0.0
        for c in 0..<classes { sum += exp(Double(x[row + c] - maximum)) }
        let logNormalizer = Double(maximum) + log(sum)
        for c in 0..<classes {
            let logProbability = Double(x[row + c]) - logNormalizer
            let target = (c == label ? 1 - smoothing : 0) + smoothing / Double(classes)
            if target != 0 { total -= target * logProbability }  // skips 0 * -inf
            dx[row + c] = Float((exp(logProbability) - target) / Double(batch))
        }
    }
    return (Float(total / Double(batch)), dLogits)
}

/// Arguments a loss function cannot use.
public enum LossError: Error, Equatable, CustomStringConvertible {
    case invalidArgument(String)

    public var description: String {
        switch self {
        case let .invalidArgument(reason): return "loss: \(reason)"
        }
    }
}
