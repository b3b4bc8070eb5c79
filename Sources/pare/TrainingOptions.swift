import ArgumentParser
import PareData
import PareTrain

/// The training settings `pare train` and the commands that fine-tune (`pare prune`) share:
/// optimizer, schedule, augmentation, batch, seed, validation split, normalisation.
struct TrainingOptions: ParsableArguments {
    static let defaults = TrainingConfiguration()

    @Option(help: "Batch size; training drops each epoch's last smaller batch (default: \(TrainingOptions.defaults.batchSize)).")
    var batch: Int?
    @Option(name: .customLong("lr"), help: "Initial learning rate, one-cycle's peak (default: \(TrainingOptions.defaults.learningRate) for sgd, 0.001 for adam and adamw).")
    var learningRate: Float?
    @Option(help: "SGD momentum (default: \(TrainingOptions.defaults.momentum)).") var momentum: Float?
    @Flag(inversion: .prefixedNo, help: "Nesterov momentum, with sgd (default: \(TrainingOptions.defaults.nesterov ? "on" : "off")).")
    var nesterov: Bool?
    @Option(name: .customLong("wd"), help: "Weight decay: added to the gradient for sgd and adam, decoupled for adamw (default: \(TrainingOptions.defaults.weightDecay) for sgd, 0 for adam, 0.01 for adamw).")
    var weightDecay: Float?
    @Option(help: "Optimizer: \(OptimizerKind.allCases.map(\.rawValue).joined(separator: ", ")) (default: \(TrainingOptions.defaults.optimizer.rawValue)).")
    var optimizer: String?
    @Option(help: ArgumentHelp("Learning-rate schedule: \(ScheduleSpec.syntax). cosine, step and multistep count epochs (cosine's T_max is --epochs); onecycle runs over every step (default: \(TrainingOptions.defaults.schedule)).", valueName: "schedule"))
    var schedule: String?
    @Option(help: "Optimizer steps of linear warm-up from a third of --lr before the schedule (default: \(TrainingOptions.defaults.warmupSteps)).")
    var warmup: Int?
    @Option(help: "Clip the gradients' total L2 norm to this before each step; 0 for none (default: \(TrainingOptions.defaults.gradientClipNorm)).")
    var clipGradNorm: Float?
    @Option(help: "Training augmentation: a comma-separated list of \(AugmentationList.names.joined(separator: ", ")), each optionally =VALUE, or none (default: \(TrainingOptions.defaults.augmentation)).")
    var augment: String?
    @Option(help: "Cross-entropy label smoothing in [0, 1) (default: \(TrainingOptions.defaults.labelSmoothing)).") var labelSmoothing: Float?
    @Option(help: "Network slimming: L1 penalty λ on every batch-norm scale γ, so that `pare prune --criterion bn-gamma` finds unimportant channels (default: 0, none).")
    var bnSparsity: Float?
    @Option(help: "Micro-batches whose gradients are averaged per optimizer step (default: \(TrainingOptions.defaults.accumulationSteps)).")
    var accumulate: Int?
    @Option(help: "Threads for oneDNN; bit-identical results need the same count (default: \(TrainingOptions.defaults.threads)).")
    var threads: Int?
    @Option(help: "Seed of the initial weights, data order, augmentation, dropout and validation split (default: \(TrainingOptions.defaults.seed)).")
    var seed: UInt64?
    @Option(help: "Fraction of the training set held out per class to choose the best checkpoint by; 0 uses the test set (default: \(TrainingOptions.defaults.validationFraction)).")
    var valFraction: Double?
    @Option(name: .customLong("then"), parsing: .singleValue,
            help: ArgumentHelp("A later phase with its own optimizer, after the first --epochs (repeatable, in order): \(TrainingPhase.syntax); e.g. AdamW then SGD: --optimizer adamw --then sgd:epochs=50,lr=1e-3.", valueName: "phase"))
    var laterPhases: [String] = []
    @Option(help: "Normalisation: \(Normalize.presets.keys.sorted().joined(separator: ", ")), none or default (default: the data set's preset).")
    var normalize: String?

    /// `base` with every option given on the command line.
    func apply(to base: TrainingConfiguration, spec: DatasetSpec?) throws -> TrainingConfiguration {
        var c = base
        if let batch { c.batchSize = batch }
        if let optimizer {
            guard let kind = OptimizerKind(rawValue: optimizer.lowercased()) else {
                throw ValidationError("--optimizer '\(optimizer)': use one of \(OptimizerKind.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            if kind != c.optimizer {
                // The other optimizers' usual defaults, unless given below.
                c.learningRate = kind == .sgd ? TrainingOptions.defaults.learningRate : 1e-3
                c.weightDecay = kind == .sgd ? TrainingOptions.defaults.weightDecay : kind == .adam ? 0 : 1e-2
            }
            c.optimizer = kind
        }
        if let learningRate { c.learningRate = learningRate }
        if let momentum { c.momentum = momentum }
        if let nesterov { c.nesterov = nesterov }
        if let weightDecay { c.weightDecay = weightDecay }
        if let schedule { c.schedule = schedule }
        if let warmup { c.warmupSteps = warmup }
        if let clipGradNorm { c.gradientClipNorm = clipGradNorm }
        if let augment { c.augmentation = augment }
        if let labelSmoothing { c.labelSmoothing = labelSmoothing }
        if let accumulate { c.accumulationSteps = accumulate }
        if let bnSparsity { c.bnSparsity = bnSparsity }
        if let threads { c.threads = threads }
        if let seed { c.seed = seed }
        if let valFraction { c.validationFraction = valFraction }
        if !laterPhases.isEmpty { c.laterPhases = try laterPhases.map(TrainingPhase.init(parsing:)) }
        if let normalize {
            guard let spec else { throw ValidationError("--normalize applies to the images of --data: give --data") }
            c.normalization = try parseNormalization(normalize, spec: spec)
        }
        try c.validate()
        return c
    }

}
