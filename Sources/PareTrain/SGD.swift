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
public final class SGD {
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
        for (name, gradient) in gradients {
            guard let parameter = parameters[name] else {
                throw OptimizerError.unknownParameter(name)
            }
            guard gradient.shape == parameter.shape else {
                throw TensorError.shapeMismatch(context: "SGD gradient of '\(name)'", expected: parameter.shape,
                                                got: gradient.shape)
            }
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

/// Errors raised by an optimizer step.
public enum OptimizerError: Error, Equatable, CustomStringConvertible {
    /// A gradient names no parameter.
    case unknownParameter(String)

    public var description: String {
        switch self {
        case let .unknownParameter(name): return "optimizer: gradient for unknown parameter '\(name)'"
        }
    }
}
