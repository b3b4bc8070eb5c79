/// AdamW (Loshchilov & Hutter), exactly as `torch.optim.AdamW`: ``Adam`` whose weight decay
/// shrinks the weights directly, `p = p * (1 - learningRate * weightDecay)`, before the
/// moments are updated, instead of being added to the gradient. Its default weight decay
/// is torch's, 1e-2.
public final class AdamW: Adam {
    /// AdamW with torch's defaults (`lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2`).
    public init(learningRate: Float = 1e-3, betas: (Double, Double) = (0.9, 0.999), epsilon: Float = 1e-8,
                weightDecay: Float = 1e-2, amsgrad: Bool = false) {
        super.init(learningRate: learningRate, betas: betas, epsilon: epsilon, weightDecay: weightDecay,
                   amsgrad: amsgrad, decoupledWeightDecay: true)
    }
}
