import CDNNL

/// A oneDNN CPU engine and an in-order stream on it.
public final class DNNLEngine: @unchecked Sendable {
    public let engine: dnnl_engine_t
    public let stream: dnnl_stream_t

    public init() throws {
        var engine: dnnl_engine_t?
        try dnnlCheck(dnnl_engine_create(&engine, dnnl_cpu, 0), "create CPU engine")
        var stream: dnnl_stream_t?
        try dnnlCheck(dnnl_stream_create(&stream, engine!, dnnl_stream_default_flags.rawValue), "create stream")
        self.engine = engine!
        self.stream = stream!
    }

    deinit {
        dnnl_stream_destroy(stream)
        dnnl_engine_destroy(engine)
    }

    /// oneDNN's version, e.g. "2.6.3".
    public static var version: String {
        let v = dnnl_version()!.pointee
        return "\(v.major).\(v.minor).\(v.patch)"
    }

    /// Sets the number of OpenMP threads oneDNN runs on (process-wide in OpenMP).
    public static func setThreads(_ threads: Int) {
        omp_set_num_threads(Int32(max(1, threads)))
    }
}

/// Throws ``DNNLError`` unless `status` is success.
@inline(__always)
func dnnlCheck(_ status: dnnl_status_t, _ what: @autoclosure () -> String) throws {
    if status != dnnl_success { throw DNNLError(status: status, operation: what()) }
}

/// A failed oneDNN call.
public struct DNNLError: Error, CustomStringConvertible {
    public let status: dnnl_status_t
    public let operation: String
    public var description: String {
        let name = String(cString: dnnl_status2str(status))
        return "oneDNN failed to \(operation): \(name)"
    }
}
