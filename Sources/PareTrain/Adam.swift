#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif
import PareCore

/// Adam, exactly as `torch.optim.Adam` (PyTorch 2.x, CPU, `maximize=False`). For each
/// parameter `p` with gradient `g`, at that parameter's step `t = 1, 2, …`:
///
/// ```
/// g = g + weightDecay * p                    (L2 penalty, Adam)
/// p = p * (1 - learningRate * weightDecay)   (decoupled decay, AdamW, instead)
/// m = m + (1 - β1) * (g - m)                 (torch's lerp: first moment)
/// v = β2 * v + (1 - β2) * g * g              (second moment)
/// vmax = max(vmax, v)                        (amsgrad only; then used in place of v)
/// p = p - (learningRate / (1 - β1^t)) * m / (sqrt(v) / sqrt(1 - β2^t) + ε)
/// ```
///
/// As in torch, the scalars `1 - β`, `β^t`, the bias corrections and the step size are
/// computed in double precision and rounded to f32 where they meet the tensors (which is
/// why the betas are `Double`: `1 - 0.999` from a single-precision 0.999 is off by 1e-5),
/// and the element-wise f32 operations are torch's, in its order. Results agree with
/// torch's to about an ulp, not bit for bit: torch's CPU `sqrt` (MKL's vector math) is not
/// correctly rounded, and its vectorised kernels fuse some multiply-adds, which without
/// FMA in the target would cost a libm call per element here.
///
/// The state of each parameter is created at its first gradient and keyed by its
/// state-dict name: ``stateTensors()`` writes `exp_avg/<name>`, `exp_avg_sq/<name>`,
/// `max_exp_avg_sq/<name>` (amsgrad) and `step/<name>` (a 1-element f32 count, as torch
/// keeps it), the names of torch's optimizer state.
public class Adam: Optimizer {
    /// Step size; a schedule may change it between steps.
    public var learningRate: Float
    /// Decay rate of the first moment (torch's `betas[0]`).
    public let beta1: Double
    /// Decay rate of the second moment (torch's `betas[1]`).
    public let beta2: Double
    /// Added to the denominator for numerical stability.
    public let epsilon: Float
    /// L2 penalty added to the gradient (``Adam``) or decoupled decay of the weights (``AdamW``).
    public let weightDecay: Float
    /// Normalise by the running maximum of the second moment (Reddi et al.).
    public let amsgrad: Bool
    /// True for AdamW: decay the weights directly instead of adding to the gradient.
    public let decoupledWeightDecay: Bool
    /// The state of every parameter stepped so far, by state-dict name.
    public private(set) var parameterStates: [String: AdamParameterState] = [:]

    /// Adam with torch's defaults (`lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0`).
    public convenience init(learningRate: Float = 1e-3, betas: (Double, Double) = (0.9, 0.999),
                            epsilon: Float = 1e-8, weightDecay: Float = 0, amsgrad: Bool = false) {
        self.init(learningRate: learningRate, betas: betas, epsilon: epsilon, weightDecay: weightDecay,
                  amsgrad: amsgrad, decoupledWeightDecay: false)
    }

    init(learningRate: Float, betas: (Double, Double), epsilon: Float, weightDecay: Float, amsgrad: Bool,
         decoupledWeightDecay: Bool) {
        precondition(learningRate >= 0, "Adam: invalid learning rate \(learningRate)")
        precondition(betas.0 >= 0 && betas.0 < 1, "Adam: invalid beta1 \(betas.0)")
        precondition(betas.1 >= 0 && betas.1 < 1, "Adam: invalid beta2 \(betas.1)")
        precondition(epsilon >= 0, "Adam: invalid epsilon \(epsilon)")
        precondition(weightDecay >= 0, "Adam: invalid weight decay \(weightDecay)")
        self.learningRate = learningRate
        self.beta1 = betas.0
        self.beta2 = betas.1
        self.epsilon = epsilon
        self.weightDecay = weightDecay
        self.amsgrad = amsgrad
        self.decoupledWeightDecay = decoupledWeightDecay
    }

    /// Updates, in place, every parameter that has a gradient. Parameters without a
    /// gradient are left alone and their step counts do not advance.
    public func step(parameters: [String: Tensor], gradients: [String: Tensor]) throws {
        let pairs = try parameterGradientPairs(parameters, gradients, optimizer: decoupledWeightDecay ? "AdamW" : "Adam")
        for (name, parameter, _) in pairs {
            if let state = parameterStates[name] { try state.check(name: name, against: parameter) }
        }
        for (name, parameter, gradient) in pairs {
            var state = parameterStates[name] ?? AdamParameterState(shape: parameter.shape, amsgrad: amsgrad)
            state.step += 1
            update(parameter.floats, gradient: gradient.floats, state: state)
            parameterStates[name] = state
        }
    }

    /// One parameter's update at step `state.step` (already advanced).
    private func update(_ p: UnsafeMutableBufferPointer<Float>, gradient g: UnsafeMutableBufferPointer<Float>,
                        state: AdamParameterState) {
        let t = Double(state.step)
        let biasCorrection1 = 1 - pow(beta1, t)
        let biasCorrection2 = 1 - pow(beta2, t)
        let negativeStepSize = Float(-(Double(learningRate) / biasCorrection1))
        let biasCorrection2Root = Float(pow(biasCorrection2, 0.5))
        let firstWeight = Float(1 - beta1), secondWeight = Float(1 - beta2), decay2 = Float(beta2)
        let decoupled = decoupledWeightDecay && weightDecay != 0
        let decoupledFactor = Float(1 - Double(learningRate) * Double(weightDecay))
        let l2 = decoupledWeightDecay ? 0 : weightDecay, epsilon = epsilon
        let m = state.firstMoment.floats, v = state.secondMoment.floats
        let vMax = state.maxSecondMoment?.floats
        for i in 0..<p.count {
            if decoupled { p[i] *= decoupledFactor }
            let gi = l2 != 0 ? g[i] + l2 * p[i] : g[i]
            m[i] = lerp(m[i], gi, weight: firstWeight)
            v[i] = v[i] * decay2
            v[i] = v[i] + secondWeight * gi * gi
            var second = v[i]
            if let vMax {
                if v[i].isNaN || vMax[i] < v[i] { vMax[i] = v[i] }  // torch.maximum: a NaN on either side wins
                second = vMax[i]
            }
            let denominator = second.squareRoot() / biasCorrection2Root + epsilon
            p[i] = p[i] + negativeStepSize * m[i] / denominator
        }
    }
}

/// torch's `lerp(start, end, weight)`: exact at both ends whichever side `weight` is on.
@inline(__always)
private func lerp(_ start: Float, _ end: Float, weight: Float) -> Float {
    abs(weight) < 0.5 ? start + weight * (end - start) : end - (end - start) * (1 - weight)
}

/// The Adam state of one parameter (torch's `optimizer.state[p]`).
public struct AdamParameterState {
    /// Steps taken by this parameter (torch's `step`).
    public var step: Int
    /// Running average of the gradient (`exp_avg`).
    public let firstMoment: Tensor
    /// Running average of the squared gradient (`exp_avg_sq`).
    public let secondMoment: Tensor
    /// Running maximum of ``secondMoment`` (`max_exp_avg_sq`), with amsgrad only.
    public let maxSecondMoment: Tensor?

    init(shape: Shape, amsgrad: Bool) {
        step = 0
        firstMoment = Tensor(zeros: shape)
        secondMoment = Tensor(zeros: shape)
        maxSecondMoment = amsgrad ? Tensor(zeros: shape) : nil
    }

    init(step: Int, firstMoment: Tensor, secondMoment: Tensor, maxSecondMoment: Tensor?) {
        self.step = step
        self.firstMoment = firstMoment
        self.secondMoment = secondMoment
        self.maxSecondMoment = maxSecondMoment
    }

    func check(name: String, against parameter: Tensor) throws {
        try checkStateShape(firstMoment, of: name, entry: "exp_avg", parameter: parameter)
        try checkStateShape(secondMoment, of: name, entry: "exp_avg_sq", parameter: parameter)
        if let maxSecondMoment {
            try checkStateShape(maxSecondMoment, of: name, entry: "max_exp_avg_sq", parameter: parameter)
        }
    }
}

extension Adam {
    /// `exp_avg/<name>`, `exp_avg_sq/<name>`, `max_exp_avg_sq/<name>` (amsgrad) and
    /// `step/<name>` (shape `[1]`) for every parameter stepped so far, copied.
    public func stateTensors() -> [String: Tensor] {
        var tensors: [String: Tensor] = [:]
        for (name, state) in parameterStates {
            tensors["exp_avg/" + name] = state.firstMoment.copy()
            tensors["exp_avg_sq/" + name] = state.secondMoment.copy()
            if let maxSecondMoment = state.maxSecondMoment { tensors["max_exp_avg_sq/" + name] = maxSecondMoment.copy() }
            tensors["step/" + name] = Tensor(repeating: Float(state.step), shape: [1])
        }
        return tensors
    }

    /// Replaces the state with copies of the entries written by ``stateTensors()``; other
    /// entries (weights saved in the same file) are ignored. Throws, changing nothing, when a
    /// parameter's entries are incomplete (amsgrad needs `max_exp_avg_sq`), disagree in shape
    /// or hold a step that is not a whole number ≥ 1. A state whose shape is not its
    /// parameter's throws at the next ``step(parameters:gradients:)``.
    public func loadState(_ tensors: [String: Tensor]) throws {
        let first = try stateEntries(tensors, prefix: "exp_avg"), second = try stateEntries(tensors, prefix: "exp_avg_sq")
        let maximum = try stateEntries(tensors, prefix: "max_exp_avg_sq"), steps = try stateEntries(tensors, prefix: "step")
        let names = Set(first.keys).union(second.keys).union(steps.keys).union(amsgrad ? Set(maximum.keys) : [])
        var states: [String: AdamParameterState] = [:]
        for name in names.sorted() {
            func entry(_ prefix: String, _ entries: [String: Tensor]) throws -> Tensor {
                guard let tensor = entries[name] else { throw OptimizerError.invalidState("missing '\(prefix)/\(name)'") }
                return tensor
            }
            let m = try entry("exp_avg", first), v = try entry("exp_avg_sq", second), stepTensor = try entry("step", steps)
            let vMax = amsgrad ? try entry("max_exp_avg_sq", maximum) : nil
            for (prefix, tensor) in [("exp_avg_sq", v), ("max_exp_avg_sq", vMax ?? v)] where tensor.shape != m.shape {
                throw OptimizerError.invalidState("'\(prefix)/\(name)' has shape \(tensor.shape), 'exp_avg/\(name)' has \(m.shape)")
            }
            let step = stepTensor.elementCount == 1 ? stepTensor.floats[0] : -1
            guard step >= 1, step == step.rounded(), step < 16_777_216 else {
                throw OptimizerError.invalidState("'step/\(name)' must hold one whole number ≥ 1, got \(stepTensor)")
            }
            states[name] = AdamParameterState(step: Int(step), firstMoment: m, secondMoment: v, maxSecondMoment: vMax)
        }
        parameterStates = states
    }
}
