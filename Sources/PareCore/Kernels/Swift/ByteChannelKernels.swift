#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// The channel moves of ChannelKernels.swift on plain NCHW buffers of 8-bit elements (an int8
// model's activations): the same plane copies, counted in bytes.

/// output is (N, sum(C_k) * H * W) bytes; input k is (N, blockSizes[k]) bytes.
func concatChannelBytes(output: UnsafeMutablePointer<UInt8>, inputs: [UnsafePointer<UInt8>], blockSizes: [Int], batch: Int) {
    let total = blockSizes.reduce(0, +)
    for n in 0..<batch {
        var offset = n * total
        for (k, input) in inputs.enumerated() {
            memcpy(output + offset, input + n * blockSizes[k], blockSizes[k])
            offset += blockSizes[k]
        }
    }
}

/// (N, groups, C/groups, plane) bytes transposed to (N, C/groups, groups, plane).
func channelShuffleBytes(output: UnsafeMutablePointer<UInt8>, input: UnsafePointer<UInt8>, batch: Int,
                         channels: Int, plane: Int, groups: Int) {
    let perGroup = channels / groups
    for n in 0..<batch {
        let base = n * channels * plane
        for g in 0..<groups {
            for c in 0..<perGroup {
                memcpy(output + base + (c * groups + g) * plane, input + base + (g * perGroup + c) * plane, plane)
            }
        }
    }
}

/// Channels start..<start+count of (N, channels, plane) bytes.
func channelSliceBytes(output: UnsafeMutablePointer<UInt8>, input: UnsafePointer<UInt8>, batch: Int,
                       channels: Int, plane: Int, start: Int, count: Int) {
    for n in 0..<batch {
        memcpy(output + n * count * plane, input + (n * channels + start) * plane, count * plane)
    }
}
