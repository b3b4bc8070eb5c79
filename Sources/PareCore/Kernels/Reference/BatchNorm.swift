// Reference batch normalisation over the channel axis (PyTorch `BatchNorm2d` / `BatchNorm1d`).
// A [N, C, H, W] tensor is (N, C, S) with S = H * W; a [N, C] tensor is (N, C, 1). Each channel
// is normalised over its N * S values.

/// Inference mode: `output = (input - runningMean) / sqrt(runningVariance + eps) * weight + bias`.
// input, output are (N, C, S); weight, bias, runningMean, runningVariance are (C).
public func referenceBatchNormInferenceForward<T: BinaryFloatingPoint>(
    output: inout [T], input: [T], weight: [T], bias: [T], runningMean: [T], runningVariance: [T],
    batch: Int, channels: Int, spatial: Int, eps: T
) {
    precondition(input.count == batch * channels * spatial && output.count == input.count, "batchNorm: input/output count")
    precondition(weight.count == channels && bias.count == channels && runningMean.count == channels
                 && runningVariance.count == channels, "batchNorm: per-channel count")
    for c in 0..<channels {
        let invstd = 1 / (runningVariance[c] + eps).squareRoot()
        for n in 0..<batch {
            for s in 0..<spatial {
                let i = (n * channels + c) * spatial + s
                output[i] = (input[i] - runningMean[c]) * invstd * weight[c] + bias[c]
            }
        }
    }
}

/// Training mode: normalises with the batch mean and the biased batch variance, writes them to
/// `mean` and `invstd = 1 / sqrt(variance + eps)` for the backward pass, and updates the running
/// statistics in place: `running = (1 - momentum) * running + momentum * batchStatistic`, where
/// the variance that goes into `runningVariance` is the unbiased one (`variance * m / (m - 1)`,
/// `m = N * S`, which must be more than 1).
// input, output are (N, C, S); weight, bias, mean, invstd, runningMean, runningVariance are (C).
public func referenceBatchNormTrainingForward<T: BinaryFloatingPoint>(
    output: inout [T], mean: inout [T], invstd: inout [T], runningMean: inout [T], runningVariance: inout [T],
    input: [T], weight: [T], bias: [T],
    batch: Int, channels: Int, spatial: Int, eps: T, momentum: T
) {
    let m = batch * spatial
    precondition(m > 1, "batchNorm: training needs more than one value per channel")
    precondition(input.count == batch * channels * spatial && output.count == input.count, "batchNorm: input/output count")
    precondition(weight.count == channels && bias.count == channels && mean.count == channels && invstd.count == channels
                 && runningMean.count == channels && runningVariance.count == channels, "batchNorm: per-channel count")
    for c in 0..<channels {
        var sum: T = 0
        for n in 0..<batch {
            for s in 0..<spatial { sum += input[(n * channels + c) * spatial + s] }
        }
        let batchMean = sum / T(m)
        var squares: T = 0
        for n in 0..<batch {
            for s in 0..<spatial {
                let centred = input[(n * channels + c) * spatial + s] - batchMean
                squares += centred * centred
            }
        }
        let variance = squares / T(m)
        let batchInvstd = 1 / (variance + eps).squareRoot()
        for n in 0..<batch {
            for s in 0..<spatial {
                let i = (n * channels + c) * spatial + s
                output[i] = (input[i] - batchMean) * batchInvstd * weight[c] + bias[c]
            }
        }
        mean[c] = batchMean
        invstd[c] = batchInvstd
        runningMean[c] = (1 - momentum) * runningMean[c] + momentum * batchMean
        runningVariance[c] = (1 - momentum) * runningVariance[c] + momentum * squares / T(m - 1)
    }
}

/// Accumulates the gradients of the training-mode forward pass (through the batch statistics)
/// into `dInput`, `dWeight` (gamma) and `dBias` (beta). With `xhat = (x - mean) * invstd` and
/// `m = N * S` values per channel:
/// `dInput = weight * invstd / m * (m * dOutput - sum(dOutput) - xhat * sum(dOutput * xhat))`,
/// `dWeight = sum(dOutput * xhat)`, `dBias = sum(dOutput)`.
// dOutput, input, dInput are (N, C, S); weight, mean, invstd, dWeight, dBias are (C).
public func referenceBatchNormBackward<T: BinaryFloatingPoint>(
    dInput: inout [T], dWeight: inout [T], dBias: inout [T], dOutput: [T], input: [T], weight: [T],
    mean: [T], invstd: [T], batch: Int, channels: Int, spatial: Int
) {
    let m = batch * spatial
    precondition(input.count == batch * channels * spatial && dInput.count == input.count && dOutput.count == input.count,
                 "batchNorm: dInput/dOutput count")
    precondition(weight.count == channels && mean.count == channels && invstd.count == channels
                 && dWeight.count == channels && dBias.count == channels, "batchNorm: per-channel count")
    for c in 0..<channels {
        var sumDy: T = 0, sumDyXhat: T = 0
        for n in 0..<batch {
            for s in 0..<spatial {
                let i = (n * channels + c) * spatial + s
                sumDy += dOutput[i]
                sumDyXhat += dOutput[i] * (input[i] - mean[c]) * invstd[c]
            }
        }
        dBias[c] += sumDy
        dWeight[c] += sumDyXhat
        let scale = weight[c] * invstd[c] / T(m)
        for n in 0..<batch {
            for s in 0..<spatial {
                let i = (n * channels + c) * spatial + s
                let xhat = (input[i] - mean[c]) * invstd[c]
                dInput[i] += scale * (T(m) * dOutput[i] - sumDy - xhat * sumDyXhat)
            }
        }
    }
}
