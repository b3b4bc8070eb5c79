import Foundation

/// Loss and top-1 accuracy of a model on one evaluation set.
public struct EvaluationScore: Codable, Equatable, Sendable {
    /// Mean cross-entropy (without label smoothing).
    public var loss: Double
    /// Top-1 accuracy, a fraction in [0, 1].
    public var accuracy: Double

    public init(loss: Double, accuracy: Double) {
        self.loss = loss
        self.accuracy = accuracy
    }
}

/// What one epoch of a ``Trainer`` measured: a row of `metrics.csv`.
public struct EpochMetrics: Codable, Equatable, Sendable {
    /// 1-based: the number of epochs completed with this one.
    public var epoch: Int
    /// The learning rate of the epoch's first optimizer step.
    public var learningRate: Float
    /// Mean training loss (with label smoothing) and accuracy over the epoch's batches,
    /// measured in training mode as the weights changed.
    public var trainLoss: Double
    public var trainAccuracy: Double
    /// The held-out part of the training set, when the configuration asks for one.
    public var validation: EvaluationScore?
    public var test: EvaluationScore?
    /// Wall time of the epoch: training, evaluation and saving.
    public var seconds: Double
    /// Training images per second (training phase only).
    public var imagesPerSecond: Double
    /// Seconds the training loop spent waiting for the data loader in this epoch (near 0
    /// when decoding and augmentation keep up with the engine).
    public var dataWaitSeconds: Double

    public init(epoch: Int, learningRate: Float, trainLoss: Double, trainAccuracy: Double, validation: EvaluationScore?,
                test: EvaluationScore?, seconds: Double, imagesPerSecond: Double, dataWaitSeconds: Double = 0) {
        self.epoch = epoch
        self.learningRate = learningRate
        self.trainLoss = trainLoss
        self.trainAccuracy = trainAccuracy
        self.validation = validation
        self.test = test
        self.seconds = seconds
        self.imagesPerSecond = imagesPerSecond
        self.dataWaitSeconds = dataWaitSeconds
    }

    /// The score the best checkpoint is chosen by: validation when there is one, else test.
    public var selectionScore: EvaluationScore? { validation ?? test }

    /// `metrics.csv`: a header and one row per epoch. Validation and test columns appear when
    /// the first row has them; accuracies are fractions.
    public static func csv(_ rows: [EpochMetrics]) -> String {
        let hasValidation = rows.first?.validation != nil, hasTest = rows.first?.test != nil
        var header = ["epoch", "learning_rate", "train_loss", "train_accuracy"]
        if hasValidation { header += ["validation_loss", "validation_accuracy"] }
        if hasTest { header += ["test_loss", "test_accuracy"] }
        header += ["epoch_seconds", "images_per_second", "data_wait_seconds"]
        var lines = [header.joined(separator: ",")]
        for row in rows {
            var fields = [String(row.epoch), "\(row.learningRate)", format(row.trainLoss), format(row.trainAccuracy)]
            for (present, score) in [(hasValidation, row.validation), (hasTest, row.test)] where present {
                fields += [score.map { format($0.loss) } ?? "", score.map { format($0.accuracy) } ?? ""]
            }
            fields += [String(format: "%.3f", row.seconds), String(format: "%.1f", row.imagesPerSecond),
                       String(format: "%.3f", row.dataWaitSeconds)]
            lines.append(fields.joined(separator: ","))
        }
        return lines.joined(separator: "\n") + "\n"
    }

    private static func format(_ value: Double) -> String { String(format: "%.6f", value) }
}

/// `summary.json`: the run's configuration, where it stands and its history.
public struct TrainingSummary: Codable, Equatable, Sendable {
    public var configuration: TrainingConfiguration
    public var completedEpochs: Int
    /// Optimizer steps taken.
    public var steps: Int
    public var trainingSamples: Int
    /// Samples of the set the best checkpoint is chosen by, and its name (`validation` or `test`).
    public var selectionSamples: Int
    public var selectedBy: String
    public var bestEpoch: Int?
    public var bestAccuracy: Double?
    public var trainableParameters: Int
    /// Sum of the epochs' wall times (a resumed run's include the earlier runs').
    public var totalSeconds: Double
    public var final: EpochMetrics?
    public var history: [EpochMetrics]
}
