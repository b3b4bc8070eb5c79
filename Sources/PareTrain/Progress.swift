/// What a ``Trainer`` reports while it runs, through ``Trainer/onEvent``. The library prints
/// nothing; a command line turns these into a progress bar or log lines.
public enum TrainingEvent: Sendable {
    /// Epoch `epoch` (1-based) of `epochs` starts with `batches` training batches.
    case epochStarted(epoch: Int, epochs: Int, batches: Int, learningRate: Float)
    /// A training batch finished.
    case batchFinished(BatchProgress)
    /// Training of the epoch is done; the evaluation sets are being run.
    case evaluating(epoch: Int)
    /// The epoch's checkpoints and metrics are written. `isBest` when it set a new best score.
    case epochFinished(EpochMetrics, isBest: Bool)
}

/// Where an epoch stands after a batch.
public struct BatchProgress: Sendable {
    /// 1-based epoch of `epochs`, and 1-based batch of `batches`.
    public var epoch: Int
    public var epochs: Int
    public var batch: Int
    public var batches: Int
    /// Means over the epoch's batches so far.
    public var loss: Double
    public var accuracy: Double
    /// Training images per second in this epoch so far.
    public var imagesPerSecond: Double
    /// Estimated seconds until the epoch's training part ends.
    public var secondsRemaining: Double
}
