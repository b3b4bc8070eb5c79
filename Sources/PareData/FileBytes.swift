import CZlib
import Foundation
import PareCore

/// Whole-file reads for the dataset readers; errors name the file.
enum FileBytes {
    /// The file's bytes; a gzip file (by content, whatever its name) is decompressed.
    /// Uncompressed files pass through zlib's `gzread` unchanged.
    static func read(_ path: String) throws -> [UInt8] {
        try read(path, headerSize: 0) { _ in Int.max }.bytes
    }

    /// The file's (decompressed) bytes, reading its header first: once the first `headerSize`
    /// bytes are in, `byteLimit` checks them (it may throw) and says how many bytes the file
    /// should hold; no more than that are kept, so a header announcing little cannot make a
    /// gzip bomb inflate into memory. The rest is only counted: `totalCount` is the file's
    /// whole decompressed size (or what there is, when it ends within the header).
    static func read(_ path: String, headerSize: Int, byteLimit: ([UInt8]) throws -> Int) throws
        -> (bytes: [UInt8], totalCount: Int) {
        try checkRegularFile(path)
        guard let file = gzopen(path, "rb") else {
            throw DatasetError(file: path, problem: .unreadable(reason: String(cString: strerror(errno))))
        }
        defer { gzclose(file) }
        gzbuffer(file, 1 << 20)
        var result: [UInt8] = []
        var totalCount = 0
        var limit: Int?
        // 64 KiB at a time (zlib buffers 1 MiB): a small file costs a small buffer.
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            if limit == nil, result.count >= headerSize { limit = try byteLimit(Array(result.prefix(headerSize))) }
            // The header is read on its own, so that nothing past it is kept before it is checked.
            let wanted = limit == nil ? headerSize - result.count : chunk.count
            let got = chunk.withUnsafeMutableBytes { gzread(file, $0.baseAddress, UInt32(wanted)) }
            if got < 0 { throw gzipError(file, path) }
            if got == 0 { break }
            totalCount += Int(got)
            let kept = min(Int(got), max(0, (limit ?? Int.max) - result.count))
            result.append(contentsOf: chunk[..<kept])
        }
        // gzread stops quietly at a stream cut short; gzerror says so.
        var code: Int32 = 0
        _ = gzerror(file, &code)
        if code != Z_OK { throw gzipError(file, path) }
        return (result, totalCount)
    }

    /// The file's bytes, as stored.
    static func readRaw(_ path: String) throws -> Data {
        try checkRegularFile(path)
        do {
            return try fileContents(URL(fileURLWithPath: path), mapped: true)
        } catch {
            throw DatasetError(file: path, problem: .unreadable(reason: error.localizedDescription))
        }
    }

    /// The size of a file in bytes.
    static func size(_ path: String) throws -> Int {
        try checkRegularFile(path)
        do {
            let attributes = try FileManager.default.attributesOfItem(atPath: path)
            return (attributes[.size] as? NSNumber)?.intValue ?? 0
        } catch {
            throw DatasetError(file: path, problem: .unreadable(reason: error.localizedDescription))
        }
    }

    static func checkRegularFile(_ path: String) throws {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw DatasetError(file: path, problem: .fileMissing(tried: [path]))
        }
        guard !isDirectory.boolValue else {
            throw DatasetError(file: path, problem: .unreadable(reason: "is a directory"))
        }
    }

    /// The first of `names` that exists in `directory`, or an error listing them all.
    static func firstExisting(in directory: String, _ names: [String]) throws -> String {
        for name in names {
            let path = (directory as NSString).appendingPathComponent(name)
            if FileManager.default.fileExists(atPath: path) { return path }
        }
        throw DatasetError(file: (directory as NSString).appendingPathComponent(names[0]), problem: .fileMissing(tried: names))
    }

    private static func gzipError(_ file: gzFile, _ path: String) -> DatasetError {
        var code: Int32 = 0
        var message = gzerror(file, &code).map { String(cString: $0) } ?? "zlib error \(code)"
        // zlib prefixes the path, which DatasetError already shows.
        if message.hasPrefix(path + ": ") { message.removeFirst(path.count + 2) }
        return DatasetError(file: path, problem: .corruptGzip(reason: message))
    }
}
