import PareCore
import PareData

/// What a ``Trainer`` minimises: the loss of a batch given the model's outputs, and its
/// gradient with respect to every output. The model's first output is the logits; an
/// objective may ask for more outputs (``extraOutputs``: feature-distillation adapters).
///
/// The default is ``CrossEntropyObjective``. Knowledge distillation (PareCompress) is another.
public protocol TrainingObjective: AnyObject {
    /// Names the objective and its settings. A checkpoint saves it and a resumed run must
    /// use an objective with the same identity; `nil` is plain cross-entropy.
    var identity: String? { get }
    /// Graph outputs after the logits that the objective reads.
    var extraOutputs: Int { get }
    /// Throws when the objective cannot train `graph` on images of `sampleShape` in
    /// `classes` classes (a teacher for other classes, say).
    func check(graph: Graph, sampleShape: Shape, classes: Int) throws
    /// The batch's loss and the gradient of that loss with respect to each output.
    /// `outputs` are the training-mode outputs for `batch.images`, the logits first.
    func loss(outputs: [Tensor], batch: Batch, configuration: TrainingConfiguration) throws
        -> (loss: Float, outputGradients: [Tensor])
}

/// Softmax cross-entropy with the configuration's label smoothing: PyTorch's `F.cross_entropy`.
public final class CrossEntropyObjective: TrainingObjective {
    public init() {}
    public var identity: String? { nil }
    public var extraOutputs: Int { 0 }
    public func check(graph: Graph, sampleShape: Shape, classes: Int) throws {}
    public func loss(outputs: [Tensor], batch: Batch, configuration: TrainingConfiguration) throws
        -> (loss: Float, outputGradients: [Tensor]) {
        let (loss, gradient) = try softmaxCrossEntropy(logits: outputs[0], labels: batch.labels,
                                                       labelSmoothing: configuration.labelSmoothing)
        return (loss, [gradient])
    }
}
