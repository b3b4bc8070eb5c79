// Reference elementwise product of two tensors: the same shape, or a per-channel gate
// broadcast over the spatial axes (squeeze-and-excitation).
// lhs and output are (batch, channels, spatial); rhs is (batch, channels, spatial) or
// (batch, channels, 1): `rhsSpatial` is `spatial` or 1.

/// `output = lhs * rhs`, `rhs` broadcast over the spatial axis when `rhsSpatial` is 1.
public func referenceMulForward<T: BinaryFloatingPoint>(output: inout [T], lhs: [T], rhs: [T],
                                                        batch: Int, channels: Int, spatial: Int, rhsSpatial: Int) {
    precondition(rhsSpatial == spatial || rhsSpatial == 1, "mul: rhs spatial")
    precondition(lhs.count == batch * channels * spatial && output.count == lhs.count
                 && rhs.count == batch * channels * rhsSpatial, "mul: count")
    for b in 0..<batch * channels {
        for s in 0..<spatial {
            output[b * spatial + s] = lhs[b * spatial + s] * rhs[b * rhsSpatial + (rhsSpatial == 1 ? 0 : s)]
        }
    }
}

/// `dLhs += dOutput * rhs`; `dRhs += dOutput * lhs`, summed over the spatial axis when `rhs`
/// was broadcast.
public func referenceMulBackward<T: BinaryFloatingPoint>(dLhs: inout [T], dRhs: inout [T], dOutput: [T], lhs: [T], rhs: [T],
                                                         batch: Int, channels: Int, spatial: Int, rhsSpatial: Int) {
    precondition(rhsSpatial == spatial || rhsSpatial == 1, "mul: rhs spatial")
    precondition(lhs.count == batch * channels * spatial && dLhs.count == lhs.count && dOutput.count == lhs.count
                 && rhs.count == batch * channels * rhsSpatial && dRhs.count == rhs.count, "mul: count")
    for b in 0..<batch * channels {
        for s in 0..<spatial {
            let i = b * spatial + s, j = b * rhsSpatial + (rhsSpatial == 1 ? 0 : s)
            dLhs[i] += dOutput[i] * rhs[j]
            dRhs[j] += dOutput[i] * lhs[i]
        }
    }
}
