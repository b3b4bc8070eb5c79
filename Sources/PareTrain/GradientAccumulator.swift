import PareCore

/// Sums the gradients of `microBatches` micro-batches into its own buffers, each scaled by
/// `1 / microBatches`, so that for a loss that is a mean over the batch the result is the
/// gradient of one batch `microBatches` times as large (PyTorch's `(loss / K).backward()`
/// K times before `optimizer.step()`; the seeds' remedy for memory).
///
/// ```
/// for images, labels in microBatches {
///     ... backward ...
///     try accumulator.add(executor.parameterGradients)
///     if accumulator.isComplete {
///         let gradients = accumulator.take()
///         clipGradientNorm(gradients, maxNorm: 5)
///         try optimizer.step(parameters: parameters, gradients: gradients)
///     }
/// }
/// ```
///
/// The gradients are copied as they are added, so the caller's gradient tensors may be
/// overwritten by the next backward pass.
public final class GradientAccumulator {
    /// Micro-batches per optimizer step (K).
    public let microBatches: Int
    /// Micro-batches added since the last ``take()``.
    public private(set) var count = 0
    private var buffers: [String: Tensor] = [:]
    /// Names with a gradient since the last ``take()``; the others' buffers hold stale values.
    private var live: Set<String> = []

    public init(microBatches: Int) {
        precondition(microBatches >= 1, "GradientAccumulator: invalid micro-batch count \(microBatches)")
        self.microBatches = microBatches
    }

    /// True once `microBatches` micro-batches have been added.
    public var isComplete: Bool { count >= microBatches }

    /// Adds `gradients / microBatches`. A name not seen before in this accumulation starts
    /// from zero; its shape must match the buffer kept for it. Throws, adding nothing, on a
    /// shape mismatch or a gradient that is not f32.
    public func add(_ gradients: [String: Tensor]) throws {
        for (name, gradient) in gradients {
            guard gradient.dtype == .f32 else {
                throw TensorError.dtypeMismatch(context: "accumulated gradient '\(name)'", expected: .f32, got: gradient.dtype)
            }
            if let buffer = buffers[name], buffer.shape != gradient.shape {
                throw TensorError.shapeMismatch(context: "accumulated gradient '\(name)'", expected: buffer.shape,
                                                got: gradient.shape)
            }
        }
        let scale = 1 / Float(microBatches)
        for (name, gradient) in gradients {
            let buffer = buffers[name] ?? Tensor(zeros: gradient.shape)
            buffers[name] = buffer
            let sum = buffer.floats, g = gradient.floats
            if live.insert(name).inserted {
                for i in 0..<sum.count { sum[i] = g[i] * scale }
            } else {
                for i in 0..<sum.count { sum[i] += g[i] * scale }
            }
        }
        count += 1
    }

    /// The accumulated gradients of every name added since the last `take()`, and a reset:
    /// the next ``add(_:)`` starts again from zero. The returned tensors are the
    /// accumulator's buffers, valid (and free to be clipped in place) until that next `add`.
    public func take() -> [String: Tensor] {
        let result = buffers.filter { live.contains($0.key) }
        live = []
        count = 0
        return result
    }
}
