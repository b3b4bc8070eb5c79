#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Contiguous, 64-byte-aligned memory owned by one or more ``Tensor`` values.
///
/// Memory is zero-filled on creation. A storage can also wrap memory owned by someone else
/// (an executor's arena); then it does not free it.
public final class TensorStorage: @unchecked Sendable {
    public static let alignment = 64

    public let byteCount: Int
    public let pointer: UnsafeMutableRawPointer
    private let owned: Bool
    /// What keeps borrowed memory alive (an executor's arena), retained with this storage.
    private let owner: AnyObject?

    /// Allocates `byteCount` zeroed bytes aligned to 64.
    public init(byteCount: Int) {
        self.byteCount = byteCount
        var raw: UnsafeMutableRawPointer?
        let rc = posix_memalign(&raw, TensorStorage.alignment, max(byteCount, TensorStorage.alignment))
        guard rc == 0, let raw else { fatalError("out of memory allocating \(byteCount) bytes") }
        memset(raw, 0, max(byteCount, TensorStorage.alignment))
        self.pointer = raw
        self.owned = true
        self.owner = nil
    }

    /// Wraps memory that outlives this storage (it is not freed here). `owner`, when given,
    /// is the object owning that memory: it is retained, so the memory stays valid as long
    /// as this storage does (an executor's output stays readable after the executor is gone).
    public init(borrowing pointer: UnsafeMutableRawPointer, byteCount: Int, owner: AnyObject? = nil) {
        self.pointer = pointer
        self.byteCount = byteCount
        self.owned = false
        self.owner = owner
    }

    deinit {
        if owned { free(pointer) }
    }
}
