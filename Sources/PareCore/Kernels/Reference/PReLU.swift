// Reference PReLU: a leaky ReLU whose negative slope is learned, one per channel or one shared.
// input and output are (batch, channels, spatial); weight is (channels) or (1).

/// `output = input` where `input > 0`, else `weight[c] * input` (`weight[0]` when it has one
/// element).
public func referencePReLUForward<T: BinaryFloatingPoint>(output: inout [T], input: [T], weight: [T],
                                                          batch: Int, channels: Int, spatial: Int) {
    precondition(input.count == batch * channels * spatial && output.count == input.count, "prelu: count")
    precondition(weight.count == channels || weight.count == 1, "prelu: weight count")
    for n in 0..<batch {
        for c in 0..<channels {
            let slope = weight[weight.count == 1 ? 0 : c]
            for s in 0..<spatial {
                let i = (n * channels + c) * spatial + s
                output[i] = input[i] > 0 ? input[i] : slope * input[i]
            }
        }
    }
}

/// `dInput += dOutput` where `input > 0`, else `weight[c] * dOutput`; `dWeight[c] += input *
/// dOutput` summed over the elements where `input <= 0` (PyTorch's `_prelu_kernel_backward`).
public func referencePReLUBackward<T: BinaryFloatingPoint>(dInput: inout [T], dWeight: inout [T], dOutput: [T], input: [T],
                                                           weight: [T], batch: Int, channels: Int, spatial: Int) {
    precondition(input.count == batch * channels * spatial && dInput.count == input.count && dOutput.count == input.count,
                 "prelu: count")
    precondition(weight.count == dWeight.count && (weight.count == channels || weight.count == 1), "prelu: weight count")
    for n in 0..<batch {
        for c in 0..<channels {
            let k = weight.count == 1 ? 0 : c
            for s in 0..<spatial {
                let i = (n * channels + c) * spatial + s
                if input[i] > 0 {
                    dInput[i] += dOutput[i]
                } else {
                    dInput[i] += weight[k] * dOutput[i]
                    dWeight[k] += input[i] * dOutput[i]
                }
            }
        }
    }
}
