import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Why ``writeAtomically(_:to:)`` failed: the step and the system's reason.
public struct AtomicWriteError: Error, CustomStringConvertible {
    public var reason: String

    public var description: String { reason }
}

/// Deletes the temporary files that ``writeAtomically(_:to:)`` calls killed part-way left in
/// `directory` (`.NAME.UUID.tmp`; not below it); the files they were replacing are intact.
/// A run that resumes in a directory calls this first, so kills leave no litter behind.
/// Returns the names deleted.
@discardableResult
public func removeInterruptedWrites(in directory: URL) throws -> [String] {
    let names = try FileManager.default.contentsOfDirectory(atPath: directory.path)
        .filter { $0.hasPrefix(".") && $0.hasSuffix(".tmp") }.sorted()
    for name in names { try FileManager.default.removeItem(at: directory.appendingPathComponent(name)) }
    return names
}

/// Writes `data` to `url` so that a reader sees either the old file or the complete new one,
/// never a partial file: the bytes go to a temporary file in the same directory, which is
/// flushed to disk (`fsync`) and then renamed over `url`. The directory is synced afterwards,
/// best effort, so the rename itself survives a crash.
public func writeAtomically(_ data: Data, to url: URL) throws {
    let directory = url.deletingLastPathComponent()
    let temporary = directory.appendingPathComponent(".\(url.lastPathComponent).\(UUID().uuidString).tmp")
    func failure(_ step: String) -> AtomicWriteError {
        AtomicWriteError(reason: "\(step): \(String(cString: strerror(errno)))")
    }

    let fd = open(temporary.path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
    guard fd >= 0 else { throw failure("cannot create \(temporary.path)") }
    var closed = false
    var renamed = false
    defer {
        if !closed { close(fd) }
        if !renamed { unlink(temporary.path) }
    }

    try data.withUnsafeBytes { (bytes: UnsafeRawBufferPointer) in
        var written = 0
        while written < bytes.count {
            let n = write(fd, bytes.baseAddress! + written, bytes.count - written)
            if n < 0 {
                if errno == EINTR { continue }
                throw failure("write to \(temporary.path)")
            }
            written += n
        }
    }
    guard fsync(fd) == 0 else { throw failure("fsync \(temporary.path)") }
    closed = true
    guard close(fd) == 0 else { throw failure("close \(temporary.path)") }
    guard rename(temporary.path, url.path) == 0 else { throw failure("rename to \(url.path)") }
    renamed = true

    let directoryFD = open(directory.path, O_RDONLY | O_CLOEXEC)
    if directoryFD >= 0 {
        _ = fsync(directoryFD)
        close(directoryFD)
    }
}
