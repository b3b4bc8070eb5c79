#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// Channel-wise data movement on plain NCHW buffers: each sample's channels are contiguous
// planes, so concatenation and shuffle are memcpy of whole planes. The forward moves are
// generic over the element: f32 activations, and the 8-bit ones of an int8 model.

/// output is (N, sum(C_k) * H * W); input k is (N, blockSizes[k]) with blockSizes[k] = C_k*H*W.
func concatChannelsForward<T>(output: UnsafeMutablePointer<T>, inputs: [UnsafePointer<T>],
                              blockSizes: [Int], batch: Int) {
    let total = blockSizes.reduce(0, +)
    for n in 0..<batch {
        var offset = n * total
        for (k, input) in inputs.enumerated() {
            memcpy(output + offset, input + n * blockSizes[k], blockSizes[k] * MemoryLayout<T>.stride)
            offset += blockSizes[k]
        }
    }
}

/// dInput (N, blockSizes[slot]) receives its slice of dOutput (overwritten).
func concatChannelsBackward(dInput: UnsafeMutablePointer<Float>, dOutput: UnsafePointer<Float>,
                            blockSizes: [Int], slot: Int, batch: Int) {
    let total = blockSizes.reduce(0, +)
    let start = blockSizes[..<slot].reduce(0, +)
    for n in 0..<batch {
        memcpy(dInput + n * blockSizes[slot], dOutput + n * total + start, blockSizes[slot] * 4)
    }
}

/// input is (N, C, plane) viewed as (N, groups, C/groups, plane); output is its transpose
/// (N, C/groups, groups, plane). The backward is the same with `groups` replaced by C/groups.
func channelShuffle<T>(output: UnsafeMutablePointer<T>, input: UnsafePointer<T>, batch: Int,
                       channels: Int, plane: Int, groups: Int) {
    let perGroup = channels / groups
    for n in 0..<batch {
        let base = n * channels * plane
        for g in 0..<groups {
            for c in 0..<perGroup {
                memcpy(output + base + (c * groups + g) * plane, input + base + (g * perGroup + c) * plane,
                       plane * MemoryLayout<T>.stride)
            }
        }
    }
}

/// The same shuffle on oneDNN's blocked layout `nChw{block}c` (`channels` a multiple of
/// `block`): output channel `o = c·groups + g` is input channel `g·(C/groups) + c`, where
/// channel `k` of pixel `p` lies at `(k / block)·plane·block + p·block + k % block` in its
/// sample. Each output block is written contiguously, pixel by pixel, from the `block` source
/// lanes it needs; no reorder to plain and back. With `block` = `channels` the layout is nhwc.
/// The backward is the same with `groups` replaced by C/groups.
func channelShuffleBlocked(output: UnsafeMutablePointer<Float>, input: UnsafePointer<Float>, batch: Int,
                           channels: Int, plane: Int, groups: Int, block: Int) {
    let perGroup = channels / groups
    let blockStride = plane * block
    let sources = (0..<channels).map { o -> Int in
        let k = (o % groups) * perGroup + o / groups
        return (k / block) * blockStride + k % block
    }
    sources.withUnsafeBufferPointer { sources in
        for n in 0..<batch {
            let x = input + n * channels * plane, y = output + n * channels * plane
            for b in 0..<(channels / block) {
                let destination = y + b * blockStride
                let lanes = sources.baseAddress! + b * block
                if block == 8 {
                    // AVX2's block, unrolled: the eight source offsets stay in registers.
                    let (l0, l1, l2, l3, l4, l5, l6, l7) = (lanes[0], lanes[1], lanes[2], lanes[3],
                                                            lanes[4], lanes[5], lanes[6], lanes[7])
                    for p in 0..<plane {
                        let q = p * 8, s = x + q
                        let v = SIMD8<Float>(s[l0], s[l1], s[l2], s[l3], s[l4], s[l5], s[l6], s[l7])
                        UnsafeMutableRawPointer(destination + q).storeBytes(of: v, as: SIMD8<Float>.self)
                    }
                    continue
                }
                for p in 0..<plane {
                    let q = p * block
                    for l in 0..<block { destination[q + l] = x[lanes[l] + q] }
                }
            }
        }
    }
}

/// output is (N, count, plane): channels start..<start+count of input (N, channels, plane).
func channelSliceForward<T>(output: UnsafeMutablePointer<T>, input: UnsafePointer<T>, batch: Int,
                            channels: Int, plane: Int, start: Int, count: Int) {
    for n in 0..<batch {
        memcpy(output + n * count * plane, input + (n * channels + start) * plane, count * plane * MemoryLayout<T>.stride)
    }
}

/// dInput (N, channels, plane) is overwritten: dOutput in the sliced channels, zero elsewhere.
func channelSliceBackward(dInput: UnsafeMutablePointer<Float>, dOutput: UnsafePointer<Float>, batch: Int,
                          channels: Int, plane: Int, start: Int, count: Int) {
    memset(dInput, 0, batch * channels * plane * 4)
    for n in 0..<batch {
        memcpy(dInput + (n * channels + start) * plane, dOutput + n * count * plane, count * plane * 4)
    }
}

/// Running statistics update as PyTorch does it: the variance is made unbiased with
/// count/(count-1) before mixing in.
func updateRunningStatistics(runningMean: UnsafeMutableBufferPointer<Float>,
                             runningVariance: UnsafeMutableBufferPointer<Float>,
                             batchMean: UnsafePointer<Float>, batchVariance: UnsafePointer<Float>,
                             momentum: Float, count: Int) {
    let unbias = count > 1 ? Float(count) / Float(count - 1) : 1
    for c in 0..<runningMean.count {
        runningMean[c] = (1 - momentum) * runningMean[c] + momentum * batchMean[c]
        runningVariance[c] = (1 - momentum) * runningVariance[c] + momentum * batchVariance[c] * unbias
    }
}

/// PReLU on plain (N, C, plane) buffers; `weight` has C elements, or 1 when `shared`.
func preluForward(output: UnsafeMutablePointer<Float>, input: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                  batch: Int, channels: Int, plane: Int, shared: Bool) {
    for n in 0..<batch {
        for c in 0..<channels {
            let slope = weight[shared ? 0 : c]
            let base = (n * channels + c) * plane
            for j in base..<(base + plane) { output[j] = input[j] > 0 ? input[j] : slope * input[j] }
        }
    }
}

/// PReLU's gradients: dInput (overwritten when non-nil) and dWeight (overwritten, summed in
/// Double over the batch and plane).
func preluBackward(dInput: UnsafeMutablePointer<Float>?, dWeight: UnsafeMutablePointer<Float>, dOutput: UnsafePointer<Float>,
                   input: UnsafePointer<Float>, weight: UnsafePointer<Float>, batch: Int, channels: Int, plane: Int,
                   shared: Bool) {
    var sums = [Double](repeating: 0, count: shared ? 1 : channels)
    for n in 0..<batch {
        for c in 0..<channels {
            let k = shared ? 0 : c
            let slope = weight[k]
            let base = (n * channels + c) * plane
            var sum: Float = 0
            for j in base..<(base + plane) {
                let negative = input[j] <= 0
                dInput?[j] = negative ? slope * dOutput[j] : dOutput[j]
                if negative { sum += input[j] * dOutput[j] }
            }
            sums[k] += Double(sum)
        }
    }
    for k in sums.indices { dWeight[k] = Float(sums[k]) }
}

/// The gradients of `lhs * rhs` on plain buffers, lhs (N*C, plane) and rhs (N*C, rhsPlane)
/// with rhsPlane = plane or 1 (broadcast): dLhs = dOutput * rhs, dRhs = dOutput * lhs summed
/// over the broadcast plane; each overwritten when non-nil.
func multiplyBackward(dLhs: UnsafeMutablePointer<Float>?, dRhs: UnsafeMutablePointer<Float>?, dOutput: UnsafePointer<Float>,
                      lhs: UnsafePointer<Float>, rhs: UnsafePointer<Float>, rows: Int, plane: Int, rhsPlane: Int) {
    for r in 0..<rows {
        let base = r * plane
        if rhsPlane == 1 {
            let gate = rhs[r]
            var sum: Float = 0
            for j in base..<(base + plane) {
                dLhs?[j] = dOutput[j] * gate
                sum += dOutput[j] * lhs[j]
            }
            dRhs?[r] = sum
        } else {
            for j in base..<(base + plane) {
                dLhs?[j] = dOutput[j] * rhs[j]
                dRhs?[j] = dOutput[j] * lhs[j]
            }
        }
    }
}

/// Reflection or replication padding on plain (planes, H, W) buffers (``referencePadForward``).
func padForward(output: UnsafeMutablePointer<Float>, input: UnsafePointer<Float>, planes: Int, height: Int, width: Int,
                attributes a: PadAttributes) {
    let p = a.padding
    let outHeight = height + p.top + p.bottom, outWidth = width + p.left + p.right
    let columns = (0..<outWidth).map { paddingSource($0, before: p.left, size: width, mode: a.mode) }
    for plane in 0..<planes {
        for oh in 0..<outHeight {
            let source = input + (plane * height + paddingSource(oh, before: p.top, size: height, mode: a.mode)) * width
            let row = output + (plane * outHeight + oh) * outWidth
            for ow in 0..<outWidth { row[ow] = source[columns[ow]] }
        }
    }
}

/// The gradient of ``padForward``: dInput (overwritten) sums the output positions copying each element.
func padBackward(dInput: UnsafeMutablePointer<Float>, dOutput: UnsafePointer<Float>, planes: Int, height: Int, width: Int,
                 attributes a: PadAttributes) {
    let p = a.padding
    let outHeight = height + p.top + p.bottom, outWidth = width + p.left + p.right
    let columns = (0..<outWidth).map { paddingSource($0, before: p.left, size: width, mode: a.mode) }
    dInput.update(repeating: 0, count: planes * height * width)
    for plane in 0..<planes {
        for oh in 0..<outHeight {
            let target = dInput + (plane * height + paddingSource(oh, before: p.top, size: height, mode: a.mode)) * width
            let row = dOutput + (plane * outHeight + oh) * outWidth
            for ow in 0..<outWidth { target[columns[ow]] += row[ow] }
        }
    }
}
