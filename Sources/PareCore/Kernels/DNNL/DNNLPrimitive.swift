import CDNNL

/// A created oneDNN primitive together with its primitive descriptor.
final class DNNLPrimitive {
    let descriptor: dnnl_primitive_desc_t
    let primitive: dnnl_primitive_t
    let name: String

    /// Takes ownership of `descriptor` and creates the primitive.
    init(descriptor: dnnl_primitive_desc_t, name: String) throws {
        var primitive: dnnl_primitive_t?
        do {
            try dnnlCheck(dnnl_primitive_create(&primitive, descriptor), "create \(name)")
        } catch {
            dnnl_primitive_desc_destroy(descriptor)
            throw error
        }
        self.descriptor = descriptor
        self.primitive = primitive!
        self.name = name
    }

    deinit {
        dnnl_primitive_destroy(primitive)
        dnnl_primitive_desc_destroy(descriptor)
    }

    func query(_ what: dnnl_query_t, _ index: Int32 = 0) -> dnnl_memory_desc_t {
        guard let md = dnnl_primitive_desc_query_md(descriptor, what, index) else { return dnnl_memory_desc_t() }
        return md.pointee
    }

    var scratchpadBytes: Int { MemoryDescriptor.byteSize(query(dnnl_query_scratchpad_md)) }

    /// Whether oneDNN fell back to its slow reference implementation.
    var isReference: Bool { implementation.hasPrefix("ref") }

    /// The implementation oneDNN picked, e.g. "jit:avx512_core".
    var implementation: String {
        var info: UnsafePointer<CChar>?
        guard dnnl_primitive_desc_query(descriptor, dnnl_query_impl_info_str, 0, &info) == dnnl_success,
              let info else { return "?" }
        return String(cString: info)
    }
}

/// Primitive attributes Pare uses everywhere: the scratchpad is user-provided (from the
/// executor's arena), so executing a primitive allocates nothing.
final class DNNLAttributes {
    let attr: dnnl_primitive_attr_t

    /// `sumPostOp` accumulates into the destination (`dst ← sumScale · dst + result`, the old
    /// destination read as `sumDataType` when given: an int8 residual of the other 8-bit
    /// type); `eltwise` (algorithm, alpha, beta) applies an activation to the result. For int8 primitives, `outputScales` multiply the
    /// result (one common scale, or one per index of `outputScalesMask`'s axes),
    /// `argumentScales` scale single inputs (a binary primitive's sources) and `zeroPoints`
    /// shift arguments (reorders), all by oneDNN argument index.
    init(sumPostOp: Bool = false, sumScale: Float = 1, sumDataType: dnnl_data_type_t? = nil,
         eltwise: (dnnl_alg_kind_t, Float, Float)? = nil, outputScales: [Float]? = nil, outputScalesMask: Int32 = 0,
         argumentScales: [(Int32, Float)] = [], zeroPoints: [(Int32, Int32)] = []) throws {
        var attr: dnnl_primitive_attr_t?
        try dnnlCheck(dnnl_primitive_attr_create(&attr), "create primitive attributes")
        self.attr = attr!
        try dnnlCheck(dnnl_primitive_attr_set_scratchpad_mode(self.attr, dnnl_scratchpad_mode_user), "set scratchpad mode")
        if let outputScales {
            try dnnlCheck(dnnl_primitive_attr_set_output_scales(self.attr, dnnl_dim_t(outputScales.count), outputScalesMask,
                                                                outputScales), "set output scales")
        }
        for (argument, scale) in argumentScales {
            var value = scale
            try dnnlCheck(dnnl_primitive_attr_set_scales(self.attr, argument, 1, 0, &value), "set argument scales")
        }
        for (argument, zeroPoint) in zeroPoints where zeroPoint != 0 {
            var value = zeroPoint
            try dnnlCheck(dnnl_primitive_attr_set_zero_points(self.attr, argument, 1, 0, &value), "set zero points")
        }
        if sumPostOp || eltwise != nil {
            var ops: dnnl_post_ops_t?
            try dnnlCheck(dnnl_post_ops_create(&ops), "create post-ops")
            defer { dnnl_post_ops_destroy(ops) }
            if sumPostOp {
                if let sumDataType {
                    try dnnlCheck(dnnl_post_ops_append_sum_v2(ops, sumScale, sumDataType), "append sum post-op")
                } else {
                    try dnnlCheck(dnnl_post_ops_append_sum(ops, sumScale), "append sum post-op")
                }
            }
            if let (algorithm, alpha, beta) = eltwise {
                try dnnlCheck(dnnl_post_ops_append_eltwise(ops, 1.0, algorithm, alpha, beta), "append eltwise post-op")
            }
            try dnnlCheck(dnnl_primitive_attr_set_post_ops(self.attr, ops), "set post-ops")
        }
    }

    deinit { dnnl_primitive_attr_destroy(attr) }
}

/// Creates a primitive from an op descriptor (any `dnnl_*_desc_t`).
func makePrimitive<Desc>(_ desc: inout Desc, engine: DNNLEngine, attributes: DNNLAttributes,
                         hint: DNNLPrimitive? = nil, name: String) throws -> DNNLPrimitive {
    var pd: dnnl_primitive_desc_t?
    try withUnsafePointer(to: &desc) { p in
        try dnnlCheck(dnnl_primitive_desc_create(&pd, UnsafeRawPointer(p), attributes.attr, engine.engine, hint?.descriptor),
                      "create primitive descriptor for \(name)")
    }
    return try DNNLPrimitive(descriptor: pd!, name: name)
}

/// Creates a reorder between two layouts of the same tensor, optionally accumulating into
/// the destination (`dst += reorder(src)`).
func makeReorder(from src: dnnl_memory_desc_t, to dst: dnnl_memory_desc_t, accumulate: Bool = false,
                 scale: Float? = nil, sourceZeroPoint: Int32 = 0, destinationZeroPoint: Int32 = 0,
                 engine: DNNLEngine, name: String) throws -> DNNLPrimitive {
    var src = src, dst = dst
    var pd: dnnl_primitive_desc_t?
    let attributes = try DNNLAttributes(sumPostOp: accumulate, outputScales: scale.map { [$0] },
                                        zeroPoints: [(DNNL_ARG_FROM, sourceZeroPoint), (DNNL_ARG_TO, destinationZeroPoint)])
    try dnnlCheck(dnnl_reorder_primitive_desc_create(&pd, &src, engine.engine, &dst, engine.engine, attributes.attr),
                  "create reorder for \(name)")
    return try DNNLPrimitive(descriptor: pd!, name: name)
}
