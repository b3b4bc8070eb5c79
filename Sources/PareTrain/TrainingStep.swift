import PareCore

/// A training run that cannot go on.
public enum TrainingError: Error, CustomStringConvertible, Equatable {
    /// The loss became NaN or infinite at `step`; parameters were not updated by that step.
    case nonFiniteLoss(step: Int, loss: Float)
    /// The gradients' total norm became NaN or infinite at `step` (seen when clipping);
    /// parameters were not updated by that step.
    case nonFiniteGradient(step: Int, norm: Float)
    /// A NaN or infinity showed at `step` (the loss or a gradient was not finite), first
    /// `at` that place (``NonFiniteDiagnosis``); parameters were not updated by that step.
    case nonFiniteValue(step: Int, at: NonFinitePlace)

    public var description: String {
        switch self {
        case let .nonFiniteLoss(step, loss):
            return "loss is \(loss) at step \(step): stopping before the optimizer step (lower the learning rate, check the data)"
        case let .nonFiniteGradient(step, norm):
            return "gradient norm is \(norm) at step \(step): stopping before the optimizer step (lower the learning rate, check the data)"
        case let .nonFiniteValue(step, place):
            let advice: String
            switch place {
            case .input: advice = "check the data"
            case .parameter: advice = "the model holds them, or the last update diverged: lower the learning rate"
            case .activation, .loss, .gradient: advice = "lower the learning rate, check the data"
            }
            return "NaN or infinity at step \(step) \(place): stopping before the optimizer step (\(advice))"
        }
    }
}

/// One supervised step: forward in training mode, softmax cross-entropy against `labels`,
/// backward, and an SGD update of the executor's graph parameters in place.
/// Returns the loss and the batch accuracy. Throws ``TrainingError/nonFiniteLoss`` before
/// touching the parameters when the loss is NaN or infinite.
public func trainingStep(executor: GraphExecutor, optimizer: any Optimizer, images: Tensor, labels: [Int],
                         step: Int = 0, labelSmoothing: Float = 0) throws -> (loss: Float, accuracy: Double) {
    let logits = try executor.forward([images])[0]
    let (loss, dLogits) = try softmaxCrossEntropy(logits: logits, labels: labels, labelSmoothing: labelSmoothing)
    guard loss.isFinite else { throw TrainingError.nonFiniteLoss(step: step, loss: loss) }
    let accuracy = topOneAccuracy(logits: logits, labels: labels)
    try executor.backward([dLogits])
    try optimizer.step(parameters: executor.graph.parameters, gradients: executor.parameterGradients)
    return (loss, accuracy)
}

/// Fraction of rows of `logits` (N x classes) whose largest entry is at the label.
public func topOneAccuracy(logits: Tensor, labels: [Int]) -> Double {
    let classes = logits.shape[1]
    let values = logits.floats
    var correct = 0
    for (n, label) in labels.enumerated() {
        var best = 0
        for c in 1..<classes where values[n * classes + c] > values[n * classes + best] { best = c }
        if best == label { correct += 1 }
    }
    return Double(correct) / Double(max(labels.count, 1))
}
