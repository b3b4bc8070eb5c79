/// Element type of a ``Tensor``.
///
/// Training runs in `f32`; `i8`, `u8` and `i32` are there for quantised execution, `f16` and
/// `bf16` for half-precision weight files (computed in f32), `i64` for PyTorch buffers such as
/// `num_batches_tracked`.
public enum DType: String, Codable, Sendable, CaseIterable {
    case f32, bf16, f16, i8, u8, i32, i64

    /// Bytes per element.
    public var byteSize: Int {
        switch self {
        case .f32, .i32: return 4
        case .bf16, .f16: return 2
        case .i8, .u8: return 1
        case .i64: return 8
        }
    }

    /// The name safetensors uses for this type (`F32`, `BF16`, `I8`, `U8`, `I32`, `I64`).
    public var safetensorsName: String {
        switch self {
        case .f32: return "F32"
        case .bf16: return "BF16"
        case .f16: return "F16"
        case .i8: return "I8"
        case .u8: return "U8"
        case .i32: return "I32"
        case .i64: return "I64"
        }
    }

    public init?(safetensorsName: String) {
        guard let match = DType.allCases.first(where: { $0.safetensorsName == safetensorsName }) else {
            return nil
        }
        self = match
    }
}
