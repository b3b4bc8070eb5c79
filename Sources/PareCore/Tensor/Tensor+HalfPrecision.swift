extension Tensor {
    /// This f32 tensor in `f16` or `bf16` (rounded to nearest, ties to even), or an `f16`/`bf16`
    /// tensor back in f32 (exact). Other conversions are not defined.
    public func converted(to target: DType) throws -> Tensor {
        if target == dtype { return self }
        let result = Tensor(zeros: shape, dtype: target)
        let count = elementCount
        switch (dtype, target) {
        case (.f32, .f16):
            let from = floats, to = result.storage.pointer.assumingMemoryBound(to: UInt16.self)
            for k in 0..<count { to[k] = Float16(from[k]).bitPattern }
        case (.f32, .bf16):
            let from = floats, to = result.storage.pointer.assumingMemoryBound(to: UInt16.self)
            for k in 0..<count { to[k] = bfloat16Bits(from[k]) }
        case (.f16, .f32):
            let from = storage.pointer.assumingMemoryBound(to: UInt16.self), to = result.floats
            for k in 0..<count { to[k] = Float(Float16(bitPattern: from[k])) }
        case (.bf16, .f32):
            let from = storage.pointer.assumingMemoryBound(to: UInt16.self), to = result.floats
            for k in 0..<count { to[k] = Float(bitPattern: UInt32(from[k]) << 16) }
        default:
            throw TensorError.dtypeMismatch(context: "convert \(dtype.rawValue) to \(target.rawValue)", expected: .f32, got: dtype)
        }
        return result
    }
}

/// The upper 16 bits of `x` rounded to nearest, ties to even (NaN stays a quiet NaN).
func bfloat16Bits(_ x: Float) -> UInt16 {
    if x.isNaN { return 0x7FC0 }
    let bits = x.bitPattern
    let rounding = 0x7FFF + ((bits >> 16) & 1)
    return UInt16(truncatingIfNeeded: (bits &+ rounding) >> 16)
}
