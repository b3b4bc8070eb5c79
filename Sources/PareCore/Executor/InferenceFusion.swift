import CDNNL

/// Which nodes an inference executor runs inside a convolution primitive instead of on
/// their own: a batch norm that directly follows a convolution is folded into the
/// convolution's weights and bias, and an activation that follows (the convolution or the
/// folded batch norm) becomes the convolution's eltwise post-op. Each fused node's output
/// is then the convolution's output buffer: two passes over memory fewer per block.
///
/// A residual add that reads the convolution (or its folded batch norm) is fused too, when
/// there is no activation between them and the add's other input is computed before the
/// convolution: the convolution writes into that value's buffer when nothing reads it later
/// and its layout is the output's (else the value is copied into the output buffer first),
/// and oneDNN's sum post-op adds the convolution's result to it; an activation after the add is then the
/// convolution's eltwise post-op after the sum (a ResNet block's `conv → bn → add → relu` in
/// one primitive).
///
/// A convolution with one input channel followed by a max pooling (directly, or after its
/// batch norm or ReLU) runs on Pare's own ``FewChannelConvolution`` with the pooling fused:
/// the pooling's output is then the convolution's buffer. It fuses no residual add and no
/// activation but ReLU.
///
/// A node is fused only when its producer's output has no other consumer and is not a graph
/// output, so no other node can see the intermediate value that fusion no longer computes.
/// Training never fuses: the backward pass needs those intermediates.
struct InferenceFusion {
    /// What is fused into one convolution node.
    struct Convolution {
        /// The batch-norm node folded into the weights and bias.
        var batchNorm: Int?
        /// The residual add whose other input (`residual`) is summed into the output.
        var add: Int?
        var residual: Int?
        /// The activation node applied as a post-op (after the sum when there is an add), with
        /// oneDNN's algorithm and parameters.
        var activation: Int?
        var algorithm = dnnl_eltwise_relu
        var alpha: Float = 0
        var beta: Float = 0
        /// The max pooling computed with the convolution: it then runs on ``FewChannelConvolution``.
        var pool: Int?
    }

    /// Fusions by convolution node.
    private(set) var convolutions: [Int: Convolution] = [:]
    /// Fused node → the convolution node whose output buffer it shares.
    private(set) var aliasOf: [Int: Int] = [:]

    init(graph: Graph, shapes: [Shape]) {
        let nodes = graph.nodes
        var consumers = [[Int]](repeating: [], count: nodes.count)
        for (c, node) in nodes.enumerated() {
            for s in node.inputs { consumers[s].append(c) }
        }
        let outputs = Set(graph.outputs)
        /// The single consumer of `i`'s output, when there is exactly one and `i` is no output.
        func soleConsumer(_ i: Int) -> Int? {
            guard !outputs.contains(i), consumers[i].count == 1 else { return nil }
            return consumers[i][0]
        }
        for (i, node) in nodes.enumerated() {
            // An int8 convolution fuses its activation itself (DNNLExecutor+Int8).
            guard case .conv2d = node.op, node.quantization == nil else { continue }
            var fusion = Convolution()
            var last = i
            if let next = soleConsumer(last), case .batchNorm = nodes[next].op {
                fusion.batchNorm = next
                last = next
            }
            if let next = soleConsumer(last), case .add = nodes[next].op, nodes[next].quantization == nil,
               nodes[next].inputs.count == 2, nodes[next].inputs[0] != nodes[next].inputs[1] {
                let other = nodes[next].inputs[0] == last ? nodes[next].inputs[1] : nodes[next].inputs[0]
                if other < i, shapes[other] == shapes[i] {
                    fusion.add = next
                    fusion.residual = other
                    last = next
                }
            }
            if let next = soleConsumer(last), let (algorithm, alpha, beta) = Self.postOp(nodes[next].op) {
                fusion.activation = next
                fusion.algorithm = algorithm
                fusion.alpha = alpha
                fusion.beta = beta
            }
            if case let .conv2d(a) = node.op, fusion.add == nil,
               FewChannelConvolution.supports(a, input: [1] + shapes[node.inputs[0]].dimensions, output: [1] + shapes[i].dimensions),
               fusion.activation.map({ if case .relu = nodes[$0].op { return true } else { return false } }) ?? true {
                // Without a pooling to fuse oneDNN is as fast (resnet20's 16-channel first layer:
                // 0.010 against 0.014 ms at batch 1), so the kernel runs only with one.
                let last = fusion.activation ?? fusion.batchNorm ?? i
                if nodes[last].quantization?.output == nil, let next = soleConsumer(last),
                   case let .maxPool(p) = nodes[next].op, FewChannelConvolution.supportsPooling(p) {
                    fusion.pool = next
                }
            }
            guard fusion.batchNorm != nil || fusion.add != nil || fusion.activation != nil || fusion.pool != nil else { continue }
            convolutions[i] = fusion
            for fused in [fusion.batchNorm, fusion.add, fusion.activation, fusion.pool].compactMap({ $0 }) { aliasOf[fused] = i }
        }
    }

    /// oneDNN's eltwise post-op for an activation op; nil for every other op.
    static func postOp(_ op: Op) -> (dnnl_alg_kind_t, Float, Float)? {
        switch op {
        case .relu: return (dnnl_eltwise_relu, 0, 0)
        case .relu6: return (dnnl_eltwise_clip_v2, 0, 6)
        case .hardSwish: return (dnnl_eltwise_hardswish, 0, 0)
        case .sigmoid: return (dnnl_eltwise_logistic, 0, 0)
        case let .leakyRelu(negativeSlope): return (dnnl_eltwise_relu, Float(negativeSlope), 0)
        case let .elu(alpha): return (dnnl_eltwise_elu, Float(alpha), 0)
        case .tanh: return (dnnl_eltwise_tanh, 0, 0)
        case .silu: return (dnnl_eltwise_swish, 1, 0)
        case .input, .conv2d, .batchNorm, .hardSigmoid, .prelu, .localResponseNorm, .pad, .maxPool, .avgPool, .globalAvgPool, .linear, .add, .mul,
             .concat, .channelShuffle, .channelSlice, .flatten, .unflatten, .dropout, .softmax:
            return nil
        }
    }
}

/// Folds batch norm (scale γ, shift β, running mean μ, variance σ², `eps`) into a
/// convolution's weights and bias, per output channel o with s = γ / √(σ² + eps):
/// `W'[o] = W[o] · s`, `b'[o] = (b[o] − μ[o]) · s + β[o]` (b = 0 without a bias). The weights
/// are `outChannels` contiguous blocks, as in PyTorch's `[O, I/groups, kh, kw]`. Computed in
/// Double.
func foldBatchNorm(weights: UnsafePointer<Float>, bias: UnsafePointer<Float>?, outChannels: Int, weightCount: Int,
                   scale: UnsafePointer<Float>, shift: UnsafePointer<Float>, mean: UnsafePointer<Float>,
                   variance: UnsafePointer<Float>, eps: Double,
                   foldedWeights: UnsafeMutablePointer<Float>, foldedBias: UnsafeMutablePointer<Float>) {
    let block = weightCount / outChannels
    for o in 0..<outChannels {
        let s = Double(scale[o]) / (Double(variance[o]) + eps).squareRoot()
        for k in (o * block)..<((o + 1) * block) { foldedWeights[k] = Float(Double(weights[k]) * s) }
        foldedBias[o] = Float((Double(bias?[o] ?? 0) - Double(mean[o])) * s + Double(shift[o]))
    }
}
