import PareCore

/// Where a NaN or infinity first shows in a training step, found by ``NonFiniteDiagnosis``.
public enum NonFinitePlace: Equatable, Sendable, CustomStringConvertible {
    /// Sample `sample` (0-based, in the batch) of the input images.
    case input(sample: Int)
    /// Parameter `parameter` of node `node`, before the step (a corrupt model, or the last
    /// update diverged).
    case parameter(node: String, parameter: String)
    /// The forward output of `node`, though its inputs and weights are finite (an overflow).
    case activation(node: String)
    /// The loss, though the outputs are finite.
    case loss(Float)
    /// The gradient of parameter `parameter` of node `node`: the node nearest the output
    /// whose gradient is not finite, though the forward pass and the loss are.
    case gradient(node: String, parameter: String)

    public var description: String {
        switch self {
        case let .input(sample): return "in the input images (sample \(sample) of the batch)"
        case let .parameter(node, parameter): return "in the weights of node '\(node)' (\(parameter))"
        case let .activation(node): return "in the output of node '\(node)' (its inputs and weights are finite)"
        case let .loss(loss): return "in the loss (\(loss); the model's outputs are finite)"
        case let .gradient(node, parameter): return "in the gradient of node '\(node)' (\(parameter))"
        }
    }
}

/// Finds where a non-finite value entered a training step. Run only once a step has gone
/// wrong (a non-finite loss or gradient), so the normal step pays nothing for it: it checks
/// the batch, then the trainable parameters, then reruns the batch forward with the reference
/// kernels (on copies of the parameters, training-mode batch statistics) to find the first
/// node whose output is not finite, then the gradients from the output backwards.
public enum NonFiniteDiagnosis {
    /// The first place a NaN or infinity shows; nil when none of them holds one.
    public static func locate(graph: Graph, images: Tensor, loss: Float?, gradients: [String: Tensor]?) -> NonFinitePlace? {
        let perSample = images.shape.elementCount / max(images.shape[0], 1)
        if let index = images.floats.firstIndex(where: { !$0.isFinite }) { return .input(sample: index / max(perSample, 1)) }
        let specs = (try? graph.parameterSpecs()) ?? []
        for (name, node, spec) in specs where spec.role.isTrainable {
            if let tensor = graph.parameters[name], tensor.dtype == .f32, !allFinite(tensor) {
                return .parameter(node: graph.nodes[node].name, parameter: name)
            }
        }
        if let runner = try? ReferenceGraphRunner<Float>(graph: graph, batchSize: images.shape[0], mode: .training),
           (try? runner.forward([images.scalars])) != nil {
            for (index, node) in graph.nodes.enumerated() where runner.values[index].contains(where: { !$0.isFinite }) {
                return .activation(node: node.name)
            }
        }
        if let loss, !loss.isFinite { return .loss(loss) }
        if let gradients {
            for (name, node, _) in specs.reversed() {
                if let gradient = gradients[name], gradient.dtype == .f32, !allFinite(gradient) {
                    return .gradient(node: graph.nodes[node].name, parameter: name)
                }
            }
        }
        return nil
    }

    /// Whether every element of an f32 tensor is finite: one pass that a NaN or infinity
    /// turns into NaN (`x * 0` is 0 for finite `x`), cheap enough for every step's gradients.
    public static func allFinite(_ tensor: Tensor) -> Bool {
        let values = tensor.floats
        guard let base = values.baseAddress else { return true }
        let raw = UnsafeRawPointer(base)
        var lanes = SIMD16<Float>()
        var i = 0
        while i + 16 <= values.count {
            lanes += raw.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self) * 0
            i += 16
        }
        var rest: Float = 0
        while i < values.count { rest += values[i] * 0; i += 1 }
        return (lanes.sum() + rest) == 0
    }
}
