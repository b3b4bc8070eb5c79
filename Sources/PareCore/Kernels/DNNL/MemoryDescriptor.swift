import CDNNL

/// Helpers around oneDNN 2.x memory descriptors (a plain C struct there).
enum MemoryDescriptor {
    /// A `dnnl_dims_t`-compatible array (oneDNN reads at most 12 entries).
    static func dims(_ values: [Int]) -> [dnnl_dim_t] {
        values.map { dnnl_dim_t($0) } + [dnnl_dim_t](repeating: 0, count: 12 - values.count)
    }

    /// The dense row-major descriptor for `shape` (nchw, nc, x, goihw, ...).
    static func plain(_ shape: [Int], dtype: dnnl_data_type_t = dnnl_f32) throws -> dnnl_memory_desc_t {
        var md = dnnl_memory_desc_t()
        try dnnlCheck(dnnl_memory_desc_init_by_tag(&md, Int32(shape.count), dims(shape), dtype, plainTag(rank: shape.count)),
                      "describe plain memory \(shape)")
        return md
    }

    /// The same layout with another element type of the same kind (an activation's blocked
    /// layout read as u8 instead of s8, or as f32 instead of u8: strides count elements).
    static func withDataType(_ md: dnnl_memory_desc_t, _ dtype: dnnl_data_type_t) -> dnnl_memory_desc_t {
        var result = md
        result.data_type = dtype
        return result
    }

    /// oneDNN's element type for a tensor dtype.
    static func dataType(_ dtype: DType) -> dnnl_data_type_t {
        switch dtype {
        case .f32: return dnnl_f32
        case .bf16: return dnnl_bf16
        case .f16: return dnnl_f16
        case .i8: return dnnl_s8
        case .u8: return dnnl_u8
        case .i32: return dnnl_s32
        case .i64: return dnnl_data_type_undef
        }
    }

    /// A descriptor that lets the primitive choose the layout.
    static func any(_ shape: [Int], dtype: dnnl_data_type_t = dnnl_f32) throws -> dnnl_memory_desc_t {
        var md = dnnl_memory_desc_t()
        try dnnlCheck(dnnl_memory_desc_init_by_tag(&md, Int32(shape.count), dims(shape), dtype, dnnl_format_tag_any),
                      "describe memory \(shape)")
        return md
    }

    static func plainTag(rank: Int) -> dnnl_format_tag_t {
        switch rank {
        case 1: return dnnl_a
        case 2: return dnnl_ab
        case 3: return dnnl_abc
        case 4: return dnnl_abcd
        case 5: return dnnl_abcde
        default: return dnnl_format_tag_undef
        }
    }

    static func equal(_ a: dnnl_memory_desc_t, _ b: dnnl_memory_desc_t) -> Bool {
        var a = a, b = b
        return dnnl_memory_desc_equal(&a, &b) != 0
    }

    static func byteSize(_ md: dnnl_memory_desc_t) -> Int {
        var md = md
        return Int(dnnl_memory_desc_get_size(&md))
    }

    static func isZero(_ md: dnnl_memory_desc_t) -> Bool { md.ndims == 0 }

    /// A short human-readable layout, e.g. "abcd" (plain) or "aBcd16b" (channels blocked by 16).
    static func describe(_ md: dnnl_memory_desc_t) -> String {
        guard md.format_kind == dnnl_blocked else { return "non-blocked" }
        let rank = Int(md.ndims)
        let blocking = md.format_desc.blocking
        let strides = withUnsafeBytes(of: blocking.strides) { Array($0.bindMemory(to: dnnl_dim_t.self).prefix(rank)) }
        let innerCount = Int(blocking.inner_nblks)
        let innerBlocks = withUnsafeBytes(of: blocking.inner_blks) { Array($0.bindMemory(to: dnnl_dim_t.self).prefix(innerCount)) }
        let innerAxes = withUnsafeBytes(of: blocking.inner_idxs) { Array($0.bindMemory(to: dnnl_dim_t.self).prefix(innerCount)) }
        let letters = Array("abcdefghijkl")
        let blockedAxes = Set(innerAxes.map { Int($0) })
        // Outer axes from largest stride to smallest; blocked axes upper-case.
        let order = (0..<rank).sorted { strides[$0] > strides[$1] }
        var name = String(order.map { blockedAxes.contains($0) ? Character(letters[$0].uppercased()) : letters[$0] })
        for (block, axis) in zip(innerBlocks, innerAxes) { name += "\(block)\(letters[Int(axis)])" }
        return name
    }
}
