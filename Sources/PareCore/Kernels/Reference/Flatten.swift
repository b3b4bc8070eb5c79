// Reference flatten: `[N, C, H, W] -> [N, C * H * W]`. Row-major data does not move, so the
// kernels are copies; they exist so that every op has its forward and backward pair.

/// `output = input` (same elements, the output is viewed as `(N, C * H * W)`).
public func referenceFlattenForward<T: BinaryFloatingPoint>(output: inout [T], input: [T]) {
    precondition(output.count == input.count, "flatten: count")
    for i in input.indices { output[i] = input[i] }
}

/// `dInput += dOutput`.
public func referenceFlattenBackward<T: BinaryFloatingPoint>(dInput: inout [T], dOutput: [T]) {
    precondition(dInput.count == dOutput.count, "flatten: count")
    for i in dOutput.indices { dInput[i] += dOutput[i] }
}
