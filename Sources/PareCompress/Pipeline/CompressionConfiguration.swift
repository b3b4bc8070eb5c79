import Foundation
import PareAnalysis
import PareTrain

/// Everything that decides what `pare compress` computes; saved in the run's `state.json`, so a
/// resumed run continues with the same settings.
public struct CompressionConfiguration: Codable, Equatable, Sendable {
    /// What the final model must meet.
    public var target: CompressionTarget
    /// The steps, in the order they run: `prune`, `distill` (fine-tune every step against the
    /// teacher instead of with plain cross-entropy), a rewrite (`dwpw`, `svd`, `tucker`,
    /// `grouped`) and `quantize`. See ``CompressionRecipe``.
    public var recipe: CompressionRecipe
    /// The most validation (else test) accuracy the final model may lose against the starting
    /// model, as a fraction (0.01 = one point).
    public var maxDrop = 0.01
    /// Train the starting model first (it then is the teacher) for this many epochs; nil: the
    /// starting model is trained already.
    public var teacherEpochs: Int?
    /// The sensitivity profile's settings and the samples of the validation split it evaluates on.
    public var sensitivity = SensitivityAnalysis.Settings()
    public var sensitivitySamples = 1000
    public var allocator = RatioAllocator.Settings()
    /// Pruning reaches the allocated ratios in this many steps, each fine-tuned for
    /// ``finetuneEpochs`` epochs (the last for ``finalEpochs``, when given).
    public var pruneSteps = 2
    public var finetuneEpochs = 2
    public var finalEpochs: Int?
    /// Teacher training and fine-tuning settings (their `epochs` is set per phase), the data's
    /// normalisation and the validation split every step is measured on.
    public var training = TrainingConfiguration()
    public var distillation = DistillationSettings()
    /// Post-training quantisation: calibration method, batches (of ``training``'s batch size)
    /// and weight bits.
    public var calibrationMethod = "minmax"
    public var calibrationBatches = 16
    public var weightBits = 7
    /// Convolutions with fewer input channels stay f32 (``QuantizationSettings/minimumInputChannels``);
    /// nil is 1, every convolution int8 (optional so that runs started before it resume).
    public var minimumInt8InputChannels: Int?
    /// ``QuantizationSettings/fuseResidualAdds``; nil is true (optional so that runs started
    /// before it resume).
    public var fuseResidualAdds: Bool?
    /// Quantisation-aware training after post-training quantisation: when (``QATPolicy``), for
    /// how many epochs and at what learning rate (SGD, cosine, no weight decay; distilling
    /// when the recipe distils).
    public var qat = QATPolicy.auto
    public var qatEpochs = 1
    public var qatLearningRate: Float = 1e-4
    /// Latency of every step is measured with these.
    public var benchmark = LatencyBenchmark.Settings(batch: 1, threads: 2, warmup: 10, runs: 50)
    /// Free-form facts (the command line records the model and data set).
    public var notes: [String: String] = [:]

    public init(target: CompressionTarget, recipe: CompressionRecipe) {
        self.target = target
        self.recipe = recipe
    }

    /// Throws naming the first setting that cannot be used.
    public func validate() throws {
        func fail(_ message: String) -> Error { CompressionError.invalidSettings(message) }
        guard maxDrop >= 0, maxDrop.isFinite else { throw fail("--max-drop must be a non-negative number of points") }
        if let teacherEpochs, teacherEpochs < 1 { throw fail("--teacher-epochs must be at least 1") }
        guard pruneSteps >= 1 else { throw fail("--prune-steps must be at least 1") }
        guard finetuneEpochs >= 0, (finalEpochs ?? 0) >= 0 else { throw fail("--finetune-epochs and --final-epochs must not be negative") }
        guard sensitivitySamples >= 10 else { throw fail("--sensitivity-samples must be at least 10") }
        guard calibrationBatches >= 1 else { throw fail("--calibration-batches must be at least 1") }
        guard weightBits == 7 || weightBits == 8 else { throw fail("--weight-bits must be 7 or 8") }
        guard (minimumInt8InputChannels ?? 1) >= 1 else { throw fail("--int8-min-channels must be at least 1") }
        guard qatEpochs >= 1 else { throw fail("--qat-epochs must be at least 1 (--qat never turns it off)") }
        guard qatLearningRate > 0, qatLearningRate.isFinite else { throw fail("--qat-lr must be positive") }
        _ = try CalibrationMethod(parsing: calibrationMethod)
        try sensitivity.validate()
        var t = training
        t.epochs = 1
        try t.validate()
        try distillation.validate()
        if recipe.distills && !recipe.prunes && recipe.rewrite == nil {
            throw fail("--recipe: distill fine-tunes after prune or a rewrite; add one of them")
        }
    }
}

/// When a compression runs quantisation-aware training after post-training quantisation.
public enum QATPolicy: String, Codable, CaseIterable, Sendable {
    /// When the post-training int8 model is more than `--max-drop` below the start.
    case auto
    case always
    case never

    /// Whether QAT runs after a post-training model `drop` (a fraction) below the start.
    public func runs(drop: Double, maxDrop: Double) -> Bool {
        switch self {
        case .auto: return drop > maxDrop + 1e-12
        case .always: return true
        case .never: return false
        }
    }
}

/// The steps of a compression, parsed from `prune,distill,quantize` (any subset, any order
/// written; they run in the order prune, rewrite, quantize, with distill applying to the
/// fine-tuning of the first two).
public struct CompressionRecipe: Codable, Equatable, Sendable, CustomStringConvertible {
    public var prunes: Bool
    public var distills: Bool
    /// `dwpw`, `svd`, `tucker` or `grouped`.
    public var rewrite: String?
    public var quantizes: Bool

    public static let rewrites = ["dwpw", "svd", "tucker", "grouped"]

    public init(prunes: Bool = true, distills: Bool = true, rewrite: String? = nil, quantizes: Bool = true) {
        self.prunes = prunes
        self.distills = distills
        self.rewrite = rewrite
        self.quantizes = quantizes
    }

    public init(parsing text: String) throws {
        self.init(prunes: false, distills: false, rewrite: nil, quantizes: false)
        let steps = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
        guard !steps.isEmpty else { throw CompressionError.invalidSettings("--recipe is empty: give e.g. prune,distill,quantize") }
        for step in steps {
            switch step {
            case "prune": prunes = true
            case "distill", "distil", "kd": distills = true
            case "quantize", "quantise", "int8": quantizes = true
            case let kind where Self.rewrites.contains(kind):
                if let rewrite, rewrite != kind {
                    throw CompressionError.invalidSettings("--recipe: one rewrite at a time (\(rewrite) and \(kind))")
                }
                rewrite = kind
            default:
                throw CompressionError.invalidSettings("--recipe: unknown step '\(step)'; use prune, distill, quantize and at most one of "
                                                       + Self.rewrites.joined(separator: ", "))
            }
        }
    }

    public var description: String {
        var steps: [String] = []
        if prunes { steps.append("prune") }
        if let rewrite { steps.append(rewrite) }
        if distills { steps.append("distill") }
        if quantizes { steps.append("quantize") }
        return steps.joined(separator: ",")
    }
}

/// Why a compression cannot start or go on.
public enum CompressionError: Error, CustomStringConvertible, Equatable {
    case invalidSettings(String)
    /// The target cannot be met without losing more accuracy than allowed (or at all).
    case targetNotMet(String)
    case maxDropExceeded(String)

    public var description: String {
        switch self {
        case let .invalidSettings(m), let .targetNotMet(m), let .maxDropExceeded(m): return m
        }
    }
}
