import Foundation

/// The fuzz input as `Data` (copied: libFuzzer owns the buffer).
public func fuzzData(_ start: UnsafeRawPointer, _ count: Int) -> Data {
    Data(bytes: start, count: count)
}

/// A file that holds the fuzz input, for parsers that take a path: one per process, rewritten
/// for every input, in /dev/shm when there is one (a memory file system), else the
/// temporary directory.
public enum FuzzFile {
    public static let url: URL = {
        let directory = FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm" : NSTemporaryDirectory()
        return URL(fileURLWithPath: directory).appendingPathComponent("pare-fuzz-\(getpid())-input")
    }()

    /// Writes `count` bytes at `start` to ``url`` and returns its path.
    public static func write(_ start: UnsafeRawPointer, _ count: Int, suffix: String = "") -> URL {
        let target = suffix.isEmpty ? url : URL(fileURLWithPath: url.path + suffix)
        let file = fopen(target.path, "wb")!
        if count > 0 { precondition(fwrite(start, 1, count, file) == count, "cannot write \(target.path)") }
        fclose(file)
        return target
    }
}
