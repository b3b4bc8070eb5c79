// Reference softmax over the last axis of (N, F) (PyTorch `softmax(x, dim=-1)`).

/// `output[n, f] = e^(input[n, f] - m) / sum over g of e^(input[n, g] - m)`, `m` the row maximum.
// input, output are (N, F).
public func referenceSoftmaxForward<T: BinaryFloatingPoint>(output: inout [T], input: [T], batch: Int, features: Int) {
    precondition(input.count == batch * features && output.count == input.count, "softmax: count")
    for n in 0..<batch {
        let row = (n * features)..<((n + 1) * features)
        let rowMax = input[row].max() ?? 0
        var sum: T = 0
        for i in row {
            output[i] = referenceExp(input[i] - rowMax)
            sum += output[i]
        }
        for i in row { output[i] /= sum }
    }
}

/// `dInput[n, f] += output[n, f] * (dOutput[n, f] - sum over g of dOutput[n, g] * output[n, g])`.
// dOutput, output, dInput are (N, F).
public func referenceSoftmaxBackward<T: BinaryFloatingPoint>(
    dInput: inout [T], dOutput: [T], output: [T], batch: Int, features: Int
) {
    precondition(output.count == batch * features && dOutput.count == output.count && dInput.count == output.count,
                 "softmax: count")
    for n in 0..<batch {
        let row = (n * features)..<((n + 1) * features)
        var dot: T = 0
        for i in row { dot += dOutput[i] * output[i] }
        for i in row { dInput[i] += output[i] * (dOutput[i] - dot) }
    }
}
