import PareCore

/// The work of one node for one sample, under the two conventions users compare against.
///
/// - ``macs``: multiply-accumulates of convolutions and linear layers only, as fvcore counts
///   them (and as the literature's "FLOPs" tables mean): a convolution is
///   `Cout * Hout * Wout * (Cin / groups) * kh * kw`, a linear layer `in * out`; biases,
///   batch norm, pooling, activations and adds count nothing. FLOPs are `2 * macs`.
/// - ``thop``: what thop 0.1.x's `profile` adds up, by its per-module rules (below). thop
///   hooks `nn.Module`s only, so an op that PyTorch code calls as a function (`torch.add`,
///   `torch.cat`, `x.view`, `F.adaptive_avg_pool2d`) is invisible to it; Pare's graph does
///   not record whether the original called a module or a function, and counts every node
///   by the rule of the module form.
public struct OperationCount: Codable, Hashable, Sendable {
    /// Multiply-accumulates of conv and linear layers (fvcore's conv and linear counts).
    public var macs: Int
    /// thop's count.
    public var thop: Int

    public init(macs: Int, thop: Int) {
        self.macs = macs
        self.thop = thop
    }

    public static let zero = OperationCount(macs: 0, thop: 0)

    /// What ``macs`` counts, for printing beside the totals.
    public static let macsRule = "conv2d: Cout*Hout*Wout*(Cin/groups)*kh*kw, linear: in*out (fvcore's conv and "
        + "linear counts); bias, batchNorm, pooling, activations, add and concat count 0"

    /// What ``thop`` counts, for printing beside the totals.
    public static let thopRule = "thop 0.1.x profile rules: conv2d and linear as MACs, batchNorm 4 per element "
        + "(affine), avgPool 1 per output element, globalAvgPool (H*W+1) per output element "
        + "(nn.AdaptiveAvgPool2d), softmax 3F-1 per sample; relu, relu6, leakyRelu, maxPool, dropout 0; hardSwish, "
        + "sigmoid, prelu, elu, tanh, silu, hardSigmoid, localResponseNorm, pad 0 (no thop rule); add, mul, concat, "
        + "flatten, unflatten, channelShuffle, "
        + "channelSlice 0 (functions in "
        + "PyTorch, unseen by thop). A model that pools with F.adaptive_avg_pool2d (torchvision mobilenet_v2) "
        + "reads (H*W+1)*C lower in thop"
}

extension Op {
    /// The node's work for one sample, given its per-sample input and output shapes.
    public func operationCount(inputs: [Shape], output: Shape) -> OperationCount {
        switch self {
        case let .conv2d(a):
            // Per output element: one MAC per weight of the group it reads.
            let macs = output.elementCount * (inputs[0][0] / a.groups) * a.kernelSize[0] * a.kernelSize[1]
            return OperationCount(macs: macs, thop: macs)
        case .linear:
            let macs = inputs[0][0] * output.elementCount
            return OperationCount(macs: macs, thop: macs)
        case .batchNorm:
            // thop count_normalization: 2 per element, doubled when affine (Pare's always is).
            return OperationCount(macs: 0, thop: 4 * output.elementCount)
        case .avgPool:
            // thop count_avgpool: one per output element, whatever the window.
            return OperationCount(macs: 0, thop: output.elementCount)
        case .globalAvgPool:
            // thop count_adap_avgpool: (kernel adds + 1 division) per output element.
            let window = inputs[0][1] * inputs[0][2]
            return OperationCount(macs: 0, thop: (window + 1) * output.elementCount)
        case .softmax:
            // thop count_softmax: F exps, F-1 adds and F divisions per sample.
            let features = output.elementCount
            return OperationCount(macs: 0, thop: 3 * features - 1)
        case .input, .relu, .relu6, .hardSwish, .sigmoid, .leakyRelu, .prelu, .elu, .tanh, .silu, .hardSigmoid,
             .localResponseNorm, .pad, .maxPool,
             .add, .mul, .concat, .channelShuffle, .channelSlice, .flatten, .unflatten, .dropout:
            return .zero
        }
    }
}
