import Foundation
import PareCore
import PareTrain

/// Quantisation-aware training (QAT): fine-tunes a trained f32 model with the int8 model's
/// rounding in its forward pass, then turns it into the same int8 model file as
/// ``PostTrainingQuantizer`` writes.
///
/// ```swift
/// let qat = QuantizationAwareTraining(settings: QuantizationSettings(weightBits: 7))
/// let start = try qat.prepare(model, calibration: batches)        // fold, calibrate, plan
/// var configuration = TrainingConfiguration()                      // a small learning rate
/// configuration.fakeQuantization = start.plan
/// let trainer = try Trainer(graph: start.graph, trainingSet: train, testSet: test,
///                           configuration: configuration, directory: run)
/// try trainer.run()                                                // resumable as any run
/// let (int8, report) = try QuantizationAwareTraining.convert(checkpoint: trainer.directory.best)
/// ```
///
/// The steps:
/// 1. **Batch norm folded for the forward.** Batch norms are folded into their convolutions
///    first (``BatchNormFolding``) and the folded graph is what trains: its forward pass is
///    then exactly the int8 model's (one convolution, one rounding), and the fine-tuned
///    weights quantise with no later fold to shift them. The price, compared with PyTorch's
///    default of keeping batch norm and folding with batch statistics, is that the
///    normalisation no longer adapts during fine-tuning; for a few epochs at a small learning
///    rate that costs nothing measurable, and it keeps the executor unchanged.
/// 2. **Ranges from calibration.** Post-training quantisation (with the settings' calibration
///    method) decides which nodes run int8 and initialises every activation range.
/// 3. **Fake-quantised fine-tuning** through the ordinary ``Trainer`` with
///    ``TrainingConfiguration/fakeQuantization`` (``FakeQuantization``): weights per output
///    channel, symmetric, at the settings' bits (the 7-bit weights of an s8-input layer are
///    stored doubled in the file, which gives the same values); activations per tensor at
///    exactly the points the post-training plan stores in 8 bits, scaled from the moving
///    average (momentum ``FakeQuantizationPlan/momentum``) of each batch's minimum and
///    maximum; the straight-through estimator in the backward pass.
/// 4. **Conversion**: the moving-average ranges become the activation scales and the trained
///    weights are quantised exactly as post-training quantisation does (the same code).
public struct QuantizationAwareTraining {
    /// The post-training quantisation that decides which nodes are int8, their weight bits,
    /// and the initial ranges (by its calibration method).
    public let settings: QuantizationSettings
    /// ``FakeQuantizationPlan/momentum`` of the plans made.
    public let momentum: Float

    public init(settings: QuantizationSettings = QuantizationSettings(), momentum: Float = 0.01) {
        self.settings = settings
        self.momentum = momentum
    }

    /// What fine-tuning starts from.
    public struct Preparation {
        /// The f32 model to fine-tune: `graph` with its batch norms folded (new tensors; the
        /// model given is untouched).
        public var graph: Graph
        /// The fake quantisation to train with.
        public var plan: FakeQuantizationPlan
        /// The post-training int8 model (the starting point's accuracy) and its report.
        public var postTraining: Graph
        public var report: QuantizationReport
    }

    /// Folds `graph`'s batch norms, quantises it after training on `calibration` batches
    /// (``PostTrainingQuantizer/quantize(_:calibration:progress:)``, whose errors it throws) and
    /// plans the fake quantisation of the folded graph from the result.
    public func prepare(_ graph: Graph, calibration batches: [Tensor],
                        progress: (Int, Int, Int) -> Void = { _, _, _ in }) throws -> Preparation {
        guard momentum > 0 && momentum <= 1 else {
            throw QuantizationError.invalidSetting("the ranges' moving-average momentum must be in (0, 1], got \(momentum)")
        }
        let quantizer = PostTrainingQuantizer(settings: settings)
        let (postTraining, report) = try quantizer.quantize(graph, calibration: batches, progress: progress)
        var (folded, _) = try BatchNormFolding.fold(graph)
        // Training updates the tensors in place: the folded graph gets its own.
        folded.parameters = folded.parameters.mapValues { $0.copy() }
        let plan = try quantizer.plan(folded)
        /// The node whose range a pass-through node's scale comes from.
        func owner(_ i: Int) -> Int {
            if case let .derived(source, _) = plan.annotation[i] { return owner(source) }
            return i
        }
        var activations: [FakeQuantizationPlan.Activation] = []
        var weights: [FakeQuantizationPlan.Weights] = []
        for (i, node) in folded.nodes.enumerated() {
            if plan.int8[i] && isWeightedLayer(node.op) {
                weights.append(FakeQuantizationPlan.Weights(node: node.name, bits: settings.weightBits))
            }
            guard let q = postTraining.nodes[i].quantization?.output else { continue }
            // Dropout is the identity in the int8 model: rounding its training-mode output
            // (scaled by 1/(1-p)) would clip values the int8 model never sees.
            if case .dropout = node.op { continue }
            let unsigned = q.dtype == .u8
            switch plan.annotation[i] {
            case .none:
                continue
            case .observed:
                let bound = report.layers[i].calibratedBound ?? q.scale * (unsigned ? 255 : 127)
                activations.append(FakeQuantizationPlan.Activation(node: node.name, unsigned: unsigned, initialBound: bound))
            case .derived:
                activations.append(FakeQuantizationPlan.Activation(node: node.name, unsigned: unsigned,
                                                                   rangeOf: folded.nodes[owner(i)].name))
            }
        }
        return Preparation(graph: folded, plan: FakeQuantizationPlan(weights: weights, activations: activations, momentum: momentum),
                           postTraining: postTraining, report: report)
    }

    /// The int8 model of `trained` (an f32 graph fine-tuned with `fakeQuantization`; batch
    /// norms are folded first if any are left): the current ranges become the activation
    /// scales, and the weights are quantised as ``PostTrainingQuantizer`` does. The same file
    /// format, and the same int8 executor, as post-training quantisation.
    public static func convert(_ trained: Graph, fakeQuantization: FakeQuantization) throws -> (graph: Graph, report: QuantizationReport) {
        if let node = trained.nodes.first(where: { $0.quantization != nil }) {
            throw QuantizationError.alreadyQuantized(node: node.name)
        }
        try trained.validate()
        let (folded, folds) = try BatchNormFolding.fold(trained)
        try fakeQuantization.validate(for: folded)
        let plan = fakeQuantization.plan
        let planned = Set(plan.weights.map(\.node))
        let bits = plan.weights.first?.bits ?? 8
        guard plan.weights.allSatisfy({ $0.bits == bits }) else {
            throw QuantizationError.invalidSetting("the fake quantisation's layers have different weight bits; an int8 file has one")
        }
        // The post-training settings this plan was made with: its bits, its f32 layers, and
        // whether residual adds were fused (a run that rounded the convolutions before their
        // adds has ranges for them, and its int8 model rounds there too).
        let keepFloat = folded.nodes.filter { isWeightedLayer($0.op) && !planned.contains($0.name) }.map(\.name)
        var quantizer = PostTrainingQuantizer(settings: QuantizationSettings(weightBits: bits, keepFloat: keepFloat))
        var layout = try quantizer.plan(folded)
        let roundedBeforeAdds = folded.nodes.indices.contains { i in
            layout.int8[i] && layout.annotation[i] == .none && isWeightedLayer(folded.nodes[i].op)
                && fakeQuantization.activation(folded.nodes[i].name) != nil
        }
        if roundedBeforeAdds {
            quantizer = PostTrainingQuantizer(settings: QuantizationSettings(weightBits: bits, keepFloat: keepFloat,
                                                                             fuseResidualAdds: false))
            layout = try quantizer.plan(folded)
        }
        var bounds: [Int: Float] = [:]
        let quantizationOf = try quantizer.activationQuantizations(folded, plan: layout) { i, _ in
            let name = folded.nodes[i].name
            guard let q = fakeQuantization.quantization(of: name) else {
                throw QuantizationError.invalidSetting("node '\(name)' is int8 but the fake quantisation has no range for it")
            }
            bounds[i] = q.scale * (q.dtype == .u8 ? 255 : 127)
            return q
        }
        var (result, layers) = quantizer.annotate(folded, plan: layout, quantizationOf: quantizationOf)
        for k in layers.indices { layers[k].calibratedBound = bounds[k] }
        let report = QuantizationReport(method: "quantisation-aware training (moving-average min/max, momentum \(plan.momentum))",
                                        weightBits: bits, calibrationBatches: 0, calibrationSamples: 0,
                                        foldedBatchNorms: folds.map(\.batchNorm), layers: layers)
        result.metadata["quantization"] = "int8 quantisation-aware training, \(bits)-bit per-channel weights, "
            + "moving-average activation ranges (momentum \(plan.momentum)), \(report.int8Layers) int8 layers"
        try result.validate()
        return (result, report)
    }

    /// The int8 model of a quantisation-aware run's checkpoint (`best.safetensors` or
    /// `last.safetensors` of its run directory): its weights with the ranges it saved.
    public static func convert(checkpoint url: URL) throws -> (graph: Graph, report: QuantizationReport) {
        let (graph, checkpoint, state) = try TrainingCheckpoint.read(from: url)
        guard let plan = checkpoint?.configuration.fakeQuantization else {
            throw QuantizationError.invalidSetting("\(url.path) is not a checkpoint of a quantisation-aware run")
        }
        return try convert(graph, fakeQuantization: try FakeQuantization(plan: plan, restoring: state))
    }
}
