/// What a ``Node`` computes. Every pass over a graph switches over this enum exhaustively
/// (no `default:`), so an op a pass does not know is a compile error, not a silent skip.
///
/// Image tensors are NCHW; shapes in the graph leave the batch dimension out.
public enum Op: Hashable, Sendable {
    /// A graph input with its per-sample shape (e.g. `[3, 224, 224]`).
    case input(shape: Shape)
    case conv2d(Conv2dAttributes)
    case batchNorm(BatchNormAttributes)
    case relu
    /// `min(max(x, 0), 6)`.
    case relu6
    /// `x * relu6(x + 3) / 6`.
    case hardSwish
    case sigmoid
    /// `x` for `x > 0`, else `negativeSlope * x` (PyTorch `LeakyReLU`).
    case leakyRelu(negativeSlope: Double)
    /// `x` for `x > 0`, else `weight[c] * x` with a learned slope per channel (`perChannel`,
    /// weight `[C]`) or one shared slope (weight `[1]`), as PyTorch `PReLU(num_parameters)`.
    case prelu(perChannel: Bool)
    /// `x` for `x > 0`, else `alpha * (e^x - 1)` (PyTorch `ELU`).
    case elu(alpha: Double)
    case tanh
    /// `x * sigmoid(x)` (PyTorch `SiLU`, also called swish).
    case silu
    /// `relu6(x + 3) / 6` (PyTorch `Hardsigmoid`; ONNX `HardSigmoid` with alpha 1/6, beta 1/2).
    case hardSigmoid
    /// Local response normalisation across channels (PyTorch `LocalResponseNorm`).
    case localResponseNorm(LRNAttributes)
    /// Reflection or replication padding of H and W.
    case pad(PadAttributes)
    case maxPool(Pool2dAttributes)
    case avgPool(Pool2dAttributes)
    /// Mean over H and W: `[C, H, W] -> [C, 1, 1]` (PyTorch `AdaptiveAvgPool2d(1)`).
    case globalAvgPool
    case linear(LinearAttributes)
    /// Elementwise sum of two inputs of the same shape.
    case add
    /// Elementwise product of two inputs: the same shape, or `[C, H, W] × [C, 1, 1]` with the
    /// second broadcast over H and W (a squeeze-and-excitation gate).
    case mul
    /// Concatenation along the channel axis.
    case concat
    /// ShuffleNet's channel shuffle: `[C, H, W]` viewed as `[groups, C/groups, H, W]`, transposed.
    case channelShuffle(groups: Int)
    /// Channels `start ..< start + count` of the input (PyTorch `x[:, start:start+count]`;
    /// `x.chunk(2, dim=1)` is two slices).
    case channelSlice(start: Int, count: Int)
    /// `[C, H, W] -> [C*H*W]`.
    case flatten
    /// `[F] -> [F, 1, 1]`: features viewed as a 1x1 map (PyTorch `x.view(N, F, 1, 1)`, as a
    /// squeeze-and-excitation gate made by linear layers is).
    case unflatten
    /// Zeroes each element with probability `p` in training and scales the rest by `1/(1-p)`.
    case dropout(p: Double)
    /// Softmax over the feature axis of a `[F]` sample.
    case softmax

    /// The op's name as it appears in JSON and summaries.
    public var kind: String {
        switch self {
        case .input: return "input"
        case .conv2d: return "conv2d"
        case .batchNorm: return "batchNorm"
        case .relu: return "relu"
        case .relu6: return "relu6"
        case .hardSwish: return "hardSwish"
        case .sigmoid: return "sigmoid"
        case .leakyRelu: return "leakyRelu"
        case .prelu: return "prelu"
        case .elu: return "elu"
        case .tanh: return "tanh"
        case .silu: return "silu"
        case .hardSigmoid: return "hardSigmoid"
        case .localResponseNorm: return "localResponseNorm"
        case .pad: return "pad"
        case .maxPool: return "maxPool"
        case .avgPool: return "avgPool"
        case .globalAvgPool: return "globalAvgPool"
        case .linear: return "linear"
        case .add: return "add"
        case .mul: return "mul"
        case .concat: return "concat"
        case .channelShuffle: return "channelShuffle"
        case .channelSlice: return "channelSlice"
        case .flatten: return "flatten"
        case .unflatten: return "unflatten"
        case .dropout: return "dropout"
        case .softmax: return "softmax"
        }
    }

    /// How many inputs the op takes (`nil`: two or more).
    public var arity: Int? {
        switch self {
        case .input: return 0
        case .conv2d, .batchNorm, .relu, .relu6, .hardSwish, .sigmoid, .leakyRelu, .prelu, .elu, .tanh, .silu,
             .hardSigmoid, .localResponseNorm, .pad, .maxPool, .avgPool, .globalAvgPool, .linear, .channelShuffle,
             .channelSlice, .flatten, .unflatten, .dropout, .softmax:
            return 1
        case .add, .mul: return 2
        case .concat: return nil
        }
    }
}
