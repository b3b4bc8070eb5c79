// Reference fully connected layer (PyTorch `nn.Linear`): `y = x W^T + b`.

/// `output[n, o] = bias[o] + sum over i of input[n, i] * weight[o, i]`.
// input is (N, IN), weight is (OUT, IN), bias is (OUT) or nil; output is (N, OUT).
public func referenceLinearForward<T: BinaryFloatingPoint>(
    output: inout [T], input: [T], weight: [T], bias: [T]?, batch: Int, inFeatures: Int, outFeatures: Int
) {
    precondition(input.count == batch * inFeatures && weight.count == outFeatures * inFeatures
                 && output.count == batch * outFeatures, "linear: count")
    precondition(bias == nil || bias!.count == outFeatures, "linear: bias count")
    for n in 0..<batch {
        for o in 0..<outFeatures {
            var sum: T = bias?[o] ?? 0
            for i in 0..<inFeatures { sum += input[n * inFeatures + i] * weight[o * inFeatures + i] }
            output[n * outFeatures + o] = sum
        }
    }
}

/// Accumulates `dInput += dOutput W`, `dWeight += dOutput^T x`, `dBias += sum over n of dOutput`.
// dOutput is (N, OUT); input, dInput are (N, IN); weight, dWeight are (OUT, IN); dBias is (OUT) or nil.
public func referenceLinearBackward<T: BinaryFloatingPoint>(
    dInput: inout [T], dWeight: inout [T], dBias: inout [T]?, dOutput: [T], input: [T], weight: [T],
    batch: Int, inFeatures: Int, outFeatures: Int
) {
    precondition(input.count == batch * inFeatures && dInput.count == input.count
                 && weight.count == outFeatures * inFeatures && dWeight.count == weight.count
                 && dOutput.count == batch * outFeatures, "linear: count")
    precondition(dBias == nil || dBias!.count == outFeatures, "linear: dBias count")
    for n in 0..<batch {
        for o in 0..<outFeatures {
            let d = dOutput[n * outFeatures + o]
            if dBias != nil { dBias![o] += d }
            for i in 0..<inFeatures {
                dInput[n * inFeatures + i] += d * weight[o * inFeatures + i]
                dWeight[o * inFeatures + i] += d * input[n * inFeatures + i]
            }
        }
    }
}
