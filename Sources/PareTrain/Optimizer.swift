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

/// Errors raised by an optimizer step or state restore.
public enum OptimizerError: Error, Equatable, CustomStringConvertible {
    /// A gradient names no parameter.
    case unknownParameter(String)
    /// A saved state entry is missing, mis-shaped or not f32; the string says which and why.
    case invalidState(String)

    public var description: String {
        switch self {
        case let .unknownParameter(name): return "optimizer: gradient for unknown parameter '\(name)'"
        case let .invalidState(reason): return "optimizer state: \(reason)"
        }
    }
}

/// Every gradient with its parameter, checked (known name, same shape, f32) before any
/// update, so a step that throws leaves all parameters untouched. Sorted by name.
func parameterGradientPairs(_ parameters: [String: Tensor], _ gradients: [String: Tensor],
                            optimizer: String) throws -> [(name: String, parameter: Tensor, gradient: Tensor)] {
    try gradients.keys.sorted().map { name in
        let gradient = gradients[name]!
        guard let parameter = parameters[name] else { throw OptimizerError.unknownParameter(name) }
        guard gradient.shape == parameter.shape else {
            throw TensorError.shapeMismatch(context: "\(optimizer) gradient of '\(name)'", expected: parameter.shape,
                                            got: gradient.shape)
        }
        guard gradient.dtype == .f32, parameter.dtype == .f32 else {
            throw TensorError.dtypeMismatch(context: "\(optimizer) parameter '\(name)'", expected: .f32,
                                            got: gradient.dtype == .f32 ? parameter.dtype : gradient.dtype)
        }
        return (name, parameter, gradient)
    }
}

/// A state buffer of `parameter` that may have been restored from a checkpoint: throws when
/// its shape is not the parameter's (a checkpoint of another model).
func checkStateShape(_ buffer: Tensor, of name: String, entry: String, parameter: Tensor) throws {
    guard buffer.shape == parameter.shape else {
        throw OptimizerError.invalidState("'\(entry)/\(name)' has shape \(buffer.shape), parameter has \(parameter.shape)")
    }
}

/// The f32 tensors of `tensors` whose names start with `prefix + "/"`, by the rest of the name
/// (independent copies).
func stateEntries(_ tensors: [String: Tensor], prefix: String) throws -> [String: Tensor] {
    var entries: [String: Tensor] = [:]
    for (name, tensor) in tensors where name.hasPrefix(prefix + "/") {
        guard tensor.dtype == .f32 else {
            throw OptimizerError.invalidState("'\(name)' is \(tensor.dtype.rawValue), expected f32")
        }
        entries[String(name.dropFirst(prefix.count + 1))] = tensor.copy()
    }
    return entries
}
