import PareCore

/// Something that updates parameters from their gradients, in place.
///
/// State (momentum buffers, Adam moments, step counts) is exposed as named tensors so a
/// checkpoint can save it in the same safetensors file as the weights and restore it exactly.
public protocol Optimizer: AnyObject {
    /// Step size; a schedule sets it before each step.
    var learningRate: Float { get set }

    /// Updates, in place, every parameter that has a gradient.
    func step(parameters: [String: Tensor], gradients: [String: Tensor]) throws

    /// The optimizer's state as named tensors (names are the optimizer's own, e.g.
    /// `momentum/layer1.0.conv1.weight`); scalars such as step counts as 1-element tensors.
    func stateTensors() -> [String: Tensor]

    /// Restores state written by ``stateTensors()``; throws naming a missing or mis-shaped entry.
    func loadState(_ tensors: [String: Tensor]) throws
}

extension SGD: Optimizer {
    public func stateTensors() -> [String: Tensor] {
        Dictionary(uniqueKeysWithValues: momentumBuffers.map { ("momentum/" + $0.key, $0.value.copy()) })
    }

    public func loadState(_ tensors: [String: Tensor]) throws {
        var buffers: [String: Tensor] = [:]
        for (name, tensor) in tensors where name.hasPrefix("momentum/") {
            buffers[String(name.dropFirst("momentum/".count))] = tensor.copy()
        }
        momentumBuffers = buffers
    }
}
