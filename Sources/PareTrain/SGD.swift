import PareCore

/// Stochastic gradient descent with momentum, Nesterov momentum and weight decay, exactly
/// as `torch.optim.SGD` with `dampening=0`. For each parameter `p` with gradient `g`:
///
/// ```
/// g = g + weightDecay * p
/// if momentum != 0:
///     buffer = g                            (first step)
///     buffer = momentum * buffer + g        (later steps)
///     g = nesterov ? g + momentum * buffer : buffer
/// p = p - learningRate * g
/// ```
///
/// Momentum buffers are kept by parameter name (``momentumBuffers``), so a checkpoint can
/// save and restore them.
public final class SGD: Optimizer {
    /// Step size; a schedule may change it between steps.
    public var learningRate: Float
    public let momentum: Float
    public let weightDecay: Float
    public let nesterov: Bool
    /// The momentum buffer of every parameter stepped so far, by state-dict name.
    public var momentumBuffers: [String: Tensor] = [:]

    public init(learningRate: Float, momentum: Float = 0, weightDecay: Float = 0, nesterov: Bool = false) {
        precondition(learningRate >= 0, "SGD: invalid learning rate \(learningRate)")
        precondition(momentum >= 0, "SGD: invalid momentum \(momentum)")
        precondition(weightDecay >= 0, "SGD: invalid weight decay \(weightDecay)")
        precondition(!nesterov || momentum > 0, "SGD: Nesterov momentum requires a momentum")
        self.learningRate = learningRate
        self.momentum = momentum
        self.weightDecay = weightDecay
        self.nesterov = nesterov
    }

    /// Updates, in place, every parameter that has a gradient. Parameters without a
    /// gradient (buffers such as batch-norm running statistics) are left alone.
    public func step(parameters: [String: Tensor], gradients: [String: Tensor]) throws {
        let pairs = try parameterGradientPairs(parameters, gradients, optimizer: "SGD")
        if momentum != 0 {
            for (name, parameter, _) in pairs {
                if let buffer = momentumBuffers[name] {
                    try checkStateShape(buffer, of: name, entry: "momentum", parameter: parameter)
                }
            }
        }
        for (name, parameter, gradient) in pairs {
            let p = parameter.floats, g = gradient.floats
            guard momentum != 0 else {
                for i in 0..<p.count { p[i] -= learningRate * (g[i] + weightDecay * p[i]) }
                continue
            }
            let buffer: UnsafeMutableBufferPointer<Float>
            let isFirstStep: Bool
            if let existing = momentumBuffers[name] {
                buffer = existing.floats
                isFirstStep = false
            } else {
                let created = Tensor(zeros: parameter.shape)
                momentumBuffers[name] = created
                buffer = created.floats
                isFirstStep = true
            }
            for i in 0..<p.count {
                let decayed = g[i] + weightDecay * p[i]
                buffer[i] = isFirstStep ? decayed : momentum * buffer[i] + decayed
                let direction = nesterov ? decayed + momentum * buffer[i] : buffer[i]
                p[i] -= learningRate * direction
            }
        }
    }
}

extension SGD {
    /// One entry `momentum/<name>` per momentum buffer (none without momentum), copied.
    public func stateTensors() -> [String: Tensor] {
        Dictionary(uniqueKeysWithValues: momentumBuffers.map { ("momentum/" + $0.key, $0.value.copy()) })
    }

    /// Replaces the momentum buffers with copies of the `momentum/<name>` entries of
    /// `tensors` (other entries, such as weights saved in the same file, are ignored). A
    /// buffer whose shape is not its parameter's throws at the next ``step(parameters:gradients:)``.
    public func loadState(_ tensors: [String: Tensor]) throws {
        momentumBuffers = try stateEntries(tensors, prefix: "momentum")
    }
}
