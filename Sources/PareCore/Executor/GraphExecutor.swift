/// Whether a forward pass trains (batch statistics, dropout, state kept for backward) or
/// evaluates (running statistics, no dropout, only live buffers kept).
public enum ExecutionMode: String, Sendable, Codable {
    case training, inference
}

/// Settings of an executor. Everything that changes how a graph runs is here, not global.
public struct ExecutorConfiguration: Sendable {
    /// Threads for oneDNN's OpenMP runtime (and BLAS, where used).
    public var threads: Int
    /// Seed of the dropout masks.
    public var seed: UInt64
    /// Whether ``GraphExecutor/backward(_:)`` also computes gradients for the graph inputs.
    public var computeInputGradients: Bool
    /// Time every step (waits for each one; for benchmarks and summaries, not for training).
    public var profile: Bool
    /// In inference, fold batch norms that follow convolutions into their weights and run
    /// the activations after them as post-ops (outputs then differ from the unfused ones in
    /// the last bits). Training never fuses.
    public var fuseInference: Bool
    /// In training, run 3x3 stride-1 convolutions with at least 8 input and output channels
    /// on Winograd's F(4x4, 3x3) algorithm (``WinogradConvolution``), each pass whose map
    /// its 4x4 tiles cover with little waste (``WinogradConvolution/passes(input:output:)``):
    /// about twice as fast as oneDNN's direct convolution on such layers (AVX2), with results
    /// that differ by rounding (relative 1e-6 to 1e-5). Inference always runs oneDNN's
    /// direct convolutions.
    public var winograd: Bool

    public init(threads: Int = 1, seed: UInt64 = 0, computeInputGradients: Bool = false, profile: Bool = false,
                fuseInference: Bool = true, winograd: Bool = true) {
        self.threads = threads
        self.seed = seed
        self.computeInputGradients = computeInputGradients
        self.profile = profile
        self.fuseInference = fuseInference
        self.winograd = winograd
    }
}

/// Runs one graph at one batch size in one mode, forward and (in training) backward.
///
/// A training executor reads the graph's parameter tensors at every step, so in-place
/// updates by an optimizer take effect, and updates the batch-norm running statistics in
/// place. An inference executor may keep weights in another layout, prepared when it is
/// created: call ``reloadParameters()`` after changing parameters in place. Tensors an
/// executor returns are owned by it and overwritten by the next call.
public protocol GraphExecutor: AnyObject {
    var graph: Graph { get }
    var batchSize: Int { get }
    var mode: ExecutionMode { get }

    /// Runs the graph forward. `inputs` holds one plain NCHW tensor per input node, of shape
    /// `[batchSize] + inputShape`. Returns one tensor per graph output.
    func forward(_ inputs: [Tensor]) throws -> [Tensor]

    /// Backpropagates `outputGradients` (one per graph output, same shapes as the outputs)
    /// through the last training-mode forward pass. Afterwards ``parameterGradients`` holds
    /// the gradient of every trainable parameter (overwritten, not accumulated).
    func backward(_ outputGradients: [Tensor]) throws

    /// Re-reads the graph's parameters after they were changed in place.
    func reloadParameters() throws

    /// Gradients of the trainable parameters, by state-dict name, after ``backward(_:)``.
    var parameterGradients: [String: Tensor] { get }
    /// Gradients of the graph inputs after ``backward(_:)``, when the configuration asks.
    var inputGradients: [Tensor] { get }
}

/// Errors raised while running a graph.
public enum ExecutionError: Error, CustomStringConvertible, Equatable {
    case wrongInputCount(expected: Int, got: Int)
    case wrongInputShape(input: String, expected: Shape, got: Shape)
    case backwardWithoutTrainingForward
    case backend(node: String, message: String)

    public var description: String {
        switch self {
        case let .wrongInputCount(expected, got):
            return "graph takes \(expected) input(s), got \(got)"
        case let .wrongInputShape(input, expected, got):
            return "input '\(input)': expected shape \(expected), got \(got)"
        case .backwardWithoutTrainingForward:
            return "backward needs a training-mode executor and a forward pass first"
        case let .backend(node, message):
            return "node '\(node)': \(message)"
        }
    }
}
