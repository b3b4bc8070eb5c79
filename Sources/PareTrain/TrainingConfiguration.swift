import Foundation
import PareCore
import PareData

/// Everything that decides what a training run computes. A ``Trainer`` saves it in every
/// checkpoint, and a resumed run must use the same one (only ``epochs``, ``threads`` and
/// ``notes`` may change), so that it ends with the weights an uninterrupted run would have.
///
/// The defaults train `smallcnn` on Fashion-MNIST to about 92% test accuracy in 10 epochs.
public struct TrainingConfiguration: Codable, Equatable, Sendable {
    /// Epochs of the run, or of its first phase when ``laterPhases`` follow (an epoch is one
    /// pass over the training set; ``totalEpochs`` counts all phases).
    public var epochs = 10
    /// Samples per micro-batch. Training drops the last, smaller batch of each epoch.
    public var batchSize = 128
    /// The learning rate the schedule starts from (one-cycle's peak).
    public var learningRate: Float = 0.05
    public var momentum: Float = 0.9
    public var nesterov = false
    public var weightDecay: Float = 5e-4
    public var optimizer = OptimizerKind.sgd
    /// Adam's and AdamW's `betas` and `eps` (torch's defaults).
    public var adamBeta1 = 0.9
    public var adamBeta2 = 0.999
    public var adamEpsilon: Float = 1e-8
    /// Learning-rate schedule in ``ScheduleSpec/syntax`` (`cosine`, `step:30,gamma=0.1`,
    /// `multistep:100,150`, `onecycle`, `constant`); epoch-based ones change the rate once
    /// per epoch, one-cycle every optimizer step.
    public var schedule = "cosine"
    /// Optimizer steps of linear warm-up (from a third of the rate) before the schedule; 0 for none.
    public var warmupSteps = 0
    /// Clip the gradients' total L2 norm to this before every optimizer step; 0 for no clipping.
    public var gradientClipNorm: Float = 0
    /// Cross-entropy label smoothing ε, in [0, 1).
    public var labelSmoothing: Float = 0
    /// Network slimming's sparsity penalty: `λ·Σ|γ|` over every batch-norm scale, its
    /// subgradient `λ·sign(γ)` added to their gradients before each step; 0 for none.
    public var bnSparsity: Float = 0
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
    /// Phases after the first, each with its own optimizer, rate and schedule
    /// (``TrainingPhase``: AdamW then SGD); empty for a run of one phase.
    public var laterPhases: [TrainingPhase] = []
    /// Quantisation-aware training: the model (an f32 graph with its batch norms folded) is
    /// trained with these weights and activations fake-quantised in the forward pass and the
    /// straight-through estimator in the backward pass, and evaluated the same way
    /// (``FakeQuantization``; `QuantizationAwareTraining` in PareCompress makes the plan and
    /// turns the result into an int8 model). `nil`: plain f32 training.
    public var fakeQuantization: FakeQuantizationPlan?
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

    /// The parsed ``schedule`` (with its warm-up).
    public func scheduleSpec() throws -> ScheduleSpec {
        try parseSchedule(schedule, warmupSteps: warmupSteps)
    }

    /// The per-step schedule of a run whose epochs have `stepsPerEpoch` optimizer steps:
    /// step `s` (0-based, counted over the whole run) uses `learningRate(at: s)`.
    public func learningRateSchedule(stepsPerEpoch: Int) throws -> any LearningRateSchedule {
        try scheduleSpec().make(baseLR: Double(learningRate), epochs: epochs, stepsPerEpoch: stepsPerEpoch)
    }

    /// Throws naming every setting that cannot be used.
    public func validate() throws {
        var problems: [String] = []
        if epochs < 1 { problems.append("epochs must be at least 1, got \(epochs)") }
        if batchSize < 1 { problems.append("batch size must be at least 1, got \(batchSize)") }
        if !(learningRate > 0) || !learningRate.isFinite { problems.append("learning rate must be positive, got \(learningRate)") }
        do {
            _ = try scheduleSpec()
        } catch {
            problems.append("\(error)")
        }
        if warmupSteps < 0 { problems.append("warm-up steps must not be negative, got \(warmupSteps)") }
        if !(gradientClipNorm >= 0) { problems.append("gradient clip norm must not be negative, got \(gradientClipNorm)") }
        if !(adamBeta1 >= 0 && adamBeta1 < 1 && adamBeta2 >= 0 && adamBeta2 < 1) {
            problems.append("Adam betas must be in [0, 1), got \(adamBeta1), \(adamBeta2)")
        }
        if !(adamEpsilon >= 0) { problems.append("Adam epsilon must not be negative, got \(adamEpsilon)") }
        if !(momentum >= 0) || momentum >= 1 { problems.append("momentum must be in [0, 1), got \(momentum)") }
        if nesterov && (momentum == 0 || optimizer != .sgd) { problems.append("Nesterov momentum needs SGD with a momentum") }
        if !(weightDecay >= 0) { problems.append("weight decay must not be negative, got \(weightDecay)") }
        if !(labelSmoothing >= 0) || labelSmoothing >= 1 { problems.append("label smoothing must be in [0, 1), got \(labelSmoothing)") }
        if !(bnSparsity >= 0) || !bnSparsity.isFinite { problems.append("batch-norm sparsity must not be negative, got \(bnSparsity)") }
        if accumulationSteps < 1 { problems.append("accumulation steps must be at least 1, got \(accumulationSteps)") }
        for phase in laterPhases {
            if phase.epochs < 1 { problems.append("phase \(phase): epochs must be at least 1") }
            if !(phase.learningRate > 0) || !phase.learningRate.isFinite { problems.append("phase \(phase): learning rate must be positive") }
            if !(phase.weightDecay >= 0) { problems.append("phase \(phase): weight decay must not be negative") }
            if !(phase.momentum >= 0) || phase.momentum >= 1 { problems.append("phase \(phase): momentum must be in [0, 1)") }
            do {
                _ = try parseSchedule(phase.schedule, warmupSteps: 0)
            } catch {
                problems.append("phase \(phase): \(error)")
            }
        }
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
        momentum = try value(.momentum, d.momentum)
        nesterov = try value(.nesterov, d.nesterov)
        weightDecay = try value(.weightDecay, d.weightDecay)
        optimizer = try value(.optimizer, d.optimizer)
        adamBeta1 = try value(.adamBeta1, d.adamBeta1)
        adamBeta2 = try value(.adamBeta2, d.adamBeta2)
        adamEpsilon = try value(.adamEpsilon, d.adamEpsilon)
        schedule = try value(.schedule, d.schedule)
        warmupSteps = try value(.warmupSteps, d.warmupSteps)
        gradientClipNorm = try value(.gradientClipNorm, d.gradientClipNorm)
        labelSmoothing = try value(.labelSmoothing, d.labelSmoothing)
        accumulationSteps = try value(.accumulationSteps, d.accumulationSteps)
        bnSparsity = try value(.bnSparsity, d.bnSparsity)
        threads = try value(.threads, d.threads)
        seed = try value(.seed, d.seed)
        augmentation = try value(.augmentation, d.augmentation)
        normalizationMean = try value(.normalizationMean, d.normalizationMean)
        normalizationStd = try value(.normalizationStd, d.normalizationStd)
        validationFraction = try value(.validationFraction, d.validationFraction)
        laterPhases = try value(.laterPhases, d.laterPhases)
        fakeQuantization = try container.decodeIfPresent(FakeQuantizationPlan.self, forKey: .fakeQuantization)
        notes = try value(.notes, d.notes)
    }
}

/// The optimizers a ``TrainingConfiguration`` can name. ``make(_:)`` is the one place that
/// turns a kind into an optimizer: a new optimizer is a new case there.
public enum OptimizerKind: String, Codable, CaseIterable, Sendable {
    case sgd, adam, adamw

    /// A new optimizer of this kind with `configuration`'s settings (its learning rate is
    /// set by the schedule before every step). SGD uses momentum, Nesterov and weight decay
    /// (added to the gradient); Adam the betas, epsilon and weight decay (added to the
    /// gradient); AdamW the same with decoupled weight decay.
    public func make(_ configuration: TrainingConfiguration) -> any Optimizer {
        let c = configuration
        switch self {
        case .sgd:
            return SGD(learningRate: c.learningRate, momentum: c.momentum, weightDecay: c.weightDecay, nesterov: c.nesterov)
        case .adam:
            return Adam(learningRate: c.learningRate, betas: (c.adamBeta1, c.adamBeta2), epsilon: c.adamEpsilon,
                        weightDecay: c.weightDecay)
        case .adamw:
            return AdamW(learningRate: c.learningRate, betas: (c.adamBeta1, c.adamBeta2), epsilon: c.adamEpsilon,
                         weightDecay: c.weightDecay)
        }
    }
}
