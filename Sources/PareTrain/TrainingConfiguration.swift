import Foundation
import PareCore
import PareData

/// Everything that decides what a training run computes. A ``Trainer`` saves it in every
/// checkpoint, and a resumed run must use the same one (only ``epochs``, ``threads`` and
/// ``notes`` may change), so that it ends with the weights an uninterrupted run would have.
///
/// The defaults train `smallcnn` on Fashion-MNIST to about 92% test accuracy in 10 epochs.
public struct TrainingConfiguration: Codable, Equatable, Sendable {
    /// Epochs in the whole run (an epoch is one pass over the training set).
    public var epochs = 10
    /// Samples per micro-batch. Training drops the last, smaller batch of each epoch.
    public var batchSize = 128
    /// The learning rate the schedule starts from.
    public var learningRate: Float = 0.05
    /// The learning rate cosine annealing ends at (`eta_min`).
    public var minimumLearningRate: Float = 0
    public var momentum: Float = 0.9
    public var nesterov = false
    public var weightDecay: Float = 5e-4
    public var optimizer = OptimizerKind.sgd
    public var schedule = ScheduleKind.cosine
    /// Cross-entropy label smoothing ε, in [0, 1).
    public var labelSmoothing: Float = 0
    /// Micro-batches whose gradients are averaged before each optimizer step (gradient
    /// accumulation: the effective batch is `batchSize * accumulationSteps`).
    public var accumulationSteps = 1
    /// Threads for oneDNN. Bit-identical results need the same count.
    public var threads = 2
    /// Seeds the data order, augmentation, dropout and the validation split.
    public var seed: UInt64 = 0
    /// Training augmentation in ``AugmentationList`` syntax (`crop,flip,rotate=10`, `none`).
    public var augmentation = "none"
    /// Per-channel mean and standard deviation for ``Normalize``; empty for none.
    public var normalizationMean: [Float] = []
    public var normalizationStd: [Float] = []
    /// Fraction of the training set held out (seeded, per class) to choose the best
    /// checkpoint by; 0 chooses it by the test set.
    public var validationFraction = 0.0
    /// Free-form facts about the run (the command line records the model and data set).
    public var notes: [String: String] = [:]

    public init() {}

    /// The normalisation applied to every image, training and evaluation alike.
    public var normalization: Normalize? {
        get { normalizationMean.isEmpty ? nil : Normalize(mean: normalizationMean, std: normalizationStd) }
        set {
            normalizationMean = newValue?.mean ?? []
            normalizationStd = newValue?.std ?? []
        }
    }

    /// The learning rate of the optimizer steps of `epoch` (0-based). `step` (0-based within
    /// the epoch) and `stepsPerEpoch` are there for schedules that change within an epoch.
    ///
    /// - constant: `learningRate`.
    /// - cosine: `torch.optim.lr_scheduler.CosineAnnealingLR` with `T_max = epochs`, stepped
    ///   once per epoch: `eta_min + (base - eta_min) * (1 + cos(pi * epoch / T_max)) / 2`.
    public func learningRate(epoch: Int, step: Int = 0, stepsPerEpoch: Int = 1) -> Float {
        switch schedule {
        case .constant:
            return learningRate
        case .cosine:
            let progress = Double(epoch) / Double(max(epochs, 1))
            let base = Double(learningRate), minimum = Double(minimumLearningRate)
            return Float(minimum + (base - minimum) * (1 + cos(Double.pi * progress)) / 2)
        }
    }

    /// Throws naming every setting that cannot be used.
    public func validate() throws {
        var problems: [String] = []
        if epochs < 1 { problems.append("epochs must be at least 1, got \(epochs)") }
        if batchSize < 1 { problems.append("batch size must be at least 1, got \(batchSize)") }
        if !(learningRate > 0) || !learningRate.isFinite { problems.append("learning rate must be positive, got \(learningRate)") }
        if !(minimumLearningRate >= 0) || minimumLearningRate > learningRate {
            problems.append("minimum learning rate must be in [0, learning rate], got \(minimumLearningRate)")
        }
        if !(momentum >= 0) || momentum >= 1 { problems.append("momentum must be in [0, 1), got \(momentum)") }
        if nesterov && momentum == 0 { problems.append("Nesterov momentum needs a momentum") }
        if !(weightDecay >= 0) { problems.append("weight decay must not be negative, got \(weightDecay)") }
        if !(labelSmoothing >= 0) || labelSmoothing >= 1 { problems.append("label smoothing must be in [0, 1), got \(labelSmoothing)") }
        if accumulationSteps < 1 { problems.append("accumulation steps must be at least 1, got \(accumulationSteps)") }
        if threads < 1 { problems.append("threads must be at least 1, got \(threads)") }
        if !(validationFraction >= 0) || validationFraction >= 1 {
            problems.append("validation fraction must be in [0, 1), got \(validationFraction)")
        }
        if normalizationMean.count != normalizationStd.count || normalizationStd.contains(where: { !($0 > 0) }) {
            problems.append("normalisation needs one positive standard deviation per mean")
        }
        do {
            _ = try AugmentationList(parsing: augmentation)
        } catch {
            problems.append("\(error)")
        }
        if !problems.isEmpty { throw TrainerError.invalidConfiguration(problems) }
    }

    /// The settings that differ from `other`, as `name: mine vs other's`, leaving out those
    /// named in `ignoring`.
    public func differences(from other: TrainingConfiguration, ignoring: Set<String> = []) -> [String] {
        zip(Mirror(reflecting: self).children, Mirror(reflecting: other).children).compactMap { mine, theirs in
            let name = mine.label ?? "?"
            guard !ignoring.contains(name), (mine.value as? AnyHashable) != (theirs.value as? AnyHashable) else { return nil }
            return "\(name): \(mine.value) vs \(theirs.value)"
        }
    }

    /// Decodes, taking the default for every missing key, so checkpoints written before a
    /// setting existed still load.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        func value<T: Decodable>(_ key: CodingKeys, _ fallback: T) throws -> T {
            try container.decodeIfPresent(T.self, forKey: key) ?? fallback
        }
        let d = TrainingConfiguration()
        epochs = try value(.epochs, d.epochs)
        batchSize = try value(.batchSize, d.batchSize)
        learningRate = try value(.learningRate, d.learningRate)
        minimumLearningRate = try value(.minimumLearningRate, d.minimumLearningRate)
        momentum = try value(.momentum, d.momentum)
        nesterov = try value(.nesterov, d.nesterov)
        weightDecay = try value(.weightDecay, d.weightDecay)
        optimizer = try value(.optimizer, d.optimizer)
        schedule = try value(.schedule, d.schedule)
        labelSmoothing = try value(.labelSmoothing, d.labelSmoothing)
        accumulationSteps = try value(.accumulationSteps, d.accumulationSteps)
        threads = try value(.threads, d.threads)
        seed = try value(.seed, d.seed)
        augmentation = try value(.augmentation, d.augmentation)
        normalizationMean = try value(.normalizationMean, d.normalizationMean)
        normalizationStd = try value(.normalizationStd, d.normalizationStd)
        validationFraction = try value(.validationFraction, d.validationFraction)
        notes = try value(.notes, d.notes)
    }
}

/// The optimizers a ``TrainingConfiguration`` can name. ``make(_:)`` is the one place that
/// turns a kind into an optimizer: a new optimizer is a new case there.
public enum OptimizerKind: String, Codable, CaseIterable, Sendable {
    case sgd, adam, adamw

    /// A new optimizer of this kind with `configuration`'s settings (its learning rate is
    /// set by the schedule before every step).
    public func make(_ configuration: TrainingConfiguration) throws -> any Optimizer {
        switch self {
        case .sgd:
            return SGD(learningRate: configuration.learningRate, momentum: configuration.momentum,
                       weightDecay: configuration.weightDecay, nesterov: configuration.nesterov)
        case .adam, .adamw:
            throw TrainerError.optimizerUnavailable(rawValue)
        }
    }
}

/// How the learning rate changes over a run; see ``TrainingConfiguration/learningRate(epoch:step:stepsPerEpoch:)``.
public enum ScheduleKind: String, Codable, CaseIterable, Sendable {
    case constant, cosine
}
