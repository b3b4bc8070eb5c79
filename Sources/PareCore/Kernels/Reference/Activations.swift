// Reference element-wise activations with PyTorch's gradients, including its choice at the
// kinks (where the derivative is not defined, PyTorch's CPU/CUDA kernels pick a side; so do we).
// Every tensor here has the same shape; any shape works.

/// `output = max(input, 0)`.
public func referenceReluForward<T: BinaryFloatingPoint>(output: inout [T], input: [T]) {
    precondition(output.count == input.count, "relu: count")
    for i in input.indices { output[i] = input[i] > 0 ? input[i] : 0 }
}

/// Gradient 1 where `input > 0`, else 0 (0 at `input == 0`, as PyTorch's `threshold_backward`).
public func referenceReluBackward<T: BinaryFloatingPoint>(dInput: inout [T], dOutput: [T], input: [T]) {
    precondition(dInput.count == input.count && dOutput.count == input.count, "relu: count")
    for i in input.indices where input[i] > 0 { dInput[i] += dOutput[i] }
}

/// `output = min(max(input, 0), 6)` (PyTorch `ReLU6`, i.e. `hardtanh(x, 0, 6)`).
public func referenceRelu6Forward<T: BinaryFloatingPoint>(output: inout [T], input: [T]) {
    precondition(output.count == input.count, "relu6: count")
    for i in input.indices { output[i] = min(max(input[i], 0), 6) }
}

/// Gradient 1 where `0 < input < 6`, else 0: both ends excluded, as PyTorch's `hardtanh_backward`.
public func referenceRelu6Backward<T: BinaryFloatingPoint>(dInput: inout [T], dOutput: [T], input: [T]) {
    precondition(dInput.count == input.count && dOutput.count == input.count, "relu6: count")
    for i in input.indices where input[i] > 0 && input[i] < 6 { dInput[i] += dOutput[i] }
}

/// `output = input * relu6(input + 3) / 6`.
public func referenceHardSwishForward<T: BinaryFloatingPoint>(output: inout [T], input: [T]) {
    precondition(output.count == input.count, "hardSwish: count")
    for i in input.indices { output[i] = input[i] * min(max(input[i] + 3, 0), 6) / 6 }
}

/// Gradient as PyTorch's scalar CPU and CUDA `hardswish_backward`: 0 for `x < -3`,
/// `x / 3 + 1/2` for `-3 <= x <= 3` (so -1/2 at exactly -3 and 3/2 at exactly 3), 1 for `x > 3`.
public func referenceHardSwishBackward<T: BinaryFloatingPoint>(dInput: inout [T], dOutput: [T], input: [T]) {
    precondition(dInput.count == input.count && dOutput.count == input.count, "hardSwish: count")
    for i in input.indices {
        let x = input[i]
        if x < -3 { continue }
        dInput[i] += x <= 3 ? dOutput[i] * (x / 3 + T(0.5)) : dOutput[i]
    }
}

/// `output = 1 / (1 + e^-input)`.
public func referenceSigmoidForward<T: BinaryFloatingPoint>(output: inout [T], input: [T]) {
    precondition(output.count == input.count, "sigmoid: count")
    for i in input.indices { output[i] = 1 / (1 + referenceExp(-input[i])) }
}

/// Gradient `output * (1 - output)`, from the forward's output.
public func referenceSigmoidBackward<T: BinaryFloatingPoint>(dInput: inout [T], dOutput: [T], output: [T]) {
    precondition(dInput.count == output.count && dOutput.count == output.count, "sigmoid: count")
    for i in output.indices { dInput[i] += dOutput[i] * output[i] * (1 - output[i]) }
}

/// `output = input` where `input > 0`, else `negativeSlope * input` (PyTorch `LeakyReLU`).
public func referenceLeakyReluForward<T: BinaryFloatingPoint>(output: inout [T], input: [T], negativeSlope: T) {
    precondition(output.count == input.count, "leakyRelu: count")
    for i in input.indices { output[i] = input[i] > 0 ? input[i] : negativeSlope * input[i] }
}

/// Gradient 1 where `input > 0`, else `negativeSlope` (so `negativeSlope` at 0, as PyTorch's
/// `leaky_relu_backward`).
public func referenceLeakyReluBackward<T: BinaryFloatingPoint>(dInput: inout [T], dOutput: [T], input: [T], negativeSlope: T) {
    precondition(dInput.count == input.count && dOutput.count == input.count, "leakyRelu: count")
    for i in input.indices { dInput[i] += input[i] > 0 ? dOutput[i] : negativeSlope * dOutput[i] }
}

/// `output = input` where `input > 0`, else `alpha * (e^input - 1)` (PyTorch `ELU`).
public func referenceEluForward<T: BinaryFloatingPoint>(output: inout [T], input: [T], alpha: T) {
    precondition(output.count == input.count, "elu: count")
    for i in input.indices { output[i] = input[i] > 0 ? input[i] : alpha * (referenceExp(input[i]) - 1) }
}

/// Gradient 1 where `input > 0`, else `alpha * e^input` (so `alpha` at 0, as PyTorch's
/// `elu_backward` on the input).
public func referenceEluBackward<T: BinaryFloatingPoint>(dInput: inout [T], dOutput: [T], input: [T], alpha: T) {
    precondition(dInput.count == input.count && dOutput.count == input.count, "elu: count")
    for i in input.indices { dInput[i] += input[i] > 0 ? dOutput[i] : dOutput[i] * alpha * referenceExp(input[i]) }
}

/// `output = tanh(input)`.
public func referenceTanhForward<T: BinaryFloatingPoint>(output: inout [T], input: [T]) {
    precondition(output.count == input.count, "tanh: count")
    for i in input.indices { output[i] = referenceTanh(input[i]) }
}

/// Gradient `1 - output²`, from the forward's output.
public func referenceTanhBackward<T: BinaryFloatingPoint>(dInput: inout [T], dOutput: [T], output: [T]) {
    precondition(dInput.count == output.count && dOutput.count == output.count, "tanh: count")
    for i in output.indices { dInput[i] += dOutput[i] * (1 - output[i] * output[i]) }
}

/// `output = input * sigmoid(input)` (PyTorch `SiLU`).
public func referenceSiluForward<T: BinaryFloatingPoint>(output: inout [T], input: [T]) {
    precondition(output.count == input.count, "silu: count")
    for i in input.indices { output[i] = input[i] / (1 + referenceExp(-input[i])) }
}

/// Gradient `s * (1 + x * (1 - s))` with `s = sigmoid(x)`.
public func referenceSiluBackward<T: BinaryFloatingPoint>(dInput: inout [T], dOutput: [T], input: [T]) {
    precondition(dInput.count == input.count && dOutput.count == input.count, "silu: count")
    for i in input.indices {
        let s = 1 / (1 + referenceExp(-input[i]))
        dInput[i] += dOutput[i] * s * (1 + input[i] * (1 - s))
    }
}

/// `output = relu6(input + 3) / 6` (PyTorch `Hardsigmoid`).
public func referenceHardSigmoidForward<T: BinaryFloatingPoint>(output: inout [T], input: [T]) {
    precondition(output.count == input.count, "hardSigmoid: count")
    for i in input.indices { output[i] = min(max(input[i] + 3, 0), 6) / 6 }
}

/// Gradient 1/6 where `-3 < input < 3`, else 0: both ends excluded, as PyTorch's
/// `hardsigmoid_backward`.
public func referenceHardSigmoidBackward<T: BinaryFloatingPoint>(dInput: inout [T], dOutput: [T], input: [T]) {
    precondition(dInput.count == input.count && dOutput.count == input.count, "hardSigmoid: count")
    for i in input.indices where input[i] > -3 && input[i] < 3 { dInput[i] += dOutput[i] / 6 }
}
