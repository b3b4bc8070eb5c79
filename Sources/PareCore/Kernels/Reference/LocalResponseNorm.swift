// Reference local response normalisation across channels (PyTorch `LocalResponseNorm` with
// an odd `size`). input and output are (batch, channels, spatial); channel c's window is
// c - size/2 ... c + size/2, clipped to the channels there are:
//   d_c = k + alpha / size · Σ_{c' in window(c)} x_{c'}²,   y_c = x_c · d_c^(-beta).

/// The denominators `d` (same layout as the input), which the backward pass reuses.
public func referenceLRNDenominators<T: BinaryFloatingPoint>(input: [T], batch: Int, channels: Int, spatial: Int,
                                                             attributes a: LRNAttributes) -> [T] {
    precondition(input.count == batch * channels * spatial, "lrn: count")
    let half = a.size / 2
    var d = [T](repeating: 0, count: input.count)
    for n in 0..<batch {
        for c in 0..<channels {
            for s in 0..<spatial {
                var sum: T = 0
                for c2 in max(0, c - half)...min(channels - 1, c + half) {
                    let v = input[(n * channels + c2) * spatial + s]
                    sum += v * v
                }
                d[(n * channels + c) * spatial + s] = T(a.k) + T(a.alpha) / T(a.size) * sum
            }
        }
    }
    return d
}

/// `output = input · d^(-beta)`.
public func referenceLRNForward<T: BinaryFloatingPoint>(output: inout [T], input: [T], batch: Int, channels: Int,
                                                        spatial: Int, attributes a: LRNAttributes) {
    precondition(output.count == input.count, "lrn: count")
    let d = referenceLRNDenominators(input: input, batch: batch, channels: channels, spatial: spatial, attributes: a)
    for i in input.indices { output[i] = input[i] * referencePow(d[i], -T(a.beta)) }
}

/// `dx_j += dy_j · d_j^(-beta) − 2 · alpha / size · beta · x_j · Σ_{c: j in window(c)} dy_c · x_c · d_c^(-beta-1)`.
public func referenceLRNBackward<T: BinaryFloatingPoint>(dInput: inout [T], dOutput: [T], input: [T], batch: Int,
                                                         channels: Int, spatial: Int, attributes a: LRNAttributes) {
    precondition(dInput.count == input.count && dOutput.count == input.count, "lrn: count")
    let d = referenceLRNDenominators(input: input, batch: batch, channels: channels, spatial: spatial, attributes: a)
    let half = a.size / 2, beta = T(a.beta), scale = 2 * T(a.alpha) / T(a.size) * beta
    for n in 0..<batch {
        for j in 0..<channels {
            for s in 0..<spatial {
                let i = (n * channels + j) * spatial + s
                var sum: T = 0
                for c in max(0, j - half)...min(channels - 1, j + half) {
                    let k = (n * channels + c) * spatial + s
                    sum += dOutput[k] * input[k] * referencePow(d[k], -beta - 1)
                }
                dInput[i] += dOutput[i] * referencePow(d[i], -beta) - scale * input[i] * sum
            }
        }
    }
}
