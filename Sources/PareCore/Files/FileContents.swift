import Foundation

/// The bytes of the file at `url` (memory-mapped where safe when `mapped`), with
/// `Data(contentsOf:)`'s errors. An empty regular file gives empty `Data` without asking
/// Foundation to read it: swift-foundation 6.x leaks a 4 KiB buffer for every empty file
/// `Data(contentsOf:)` reads (found by fuzzing under LeakSanitizer, issue 16).
public func fileContents(_ url: URL, mapped: Bool = false) throws -> Data {
    var status = stat()
    if stat(url.path, &status) == 0, (status.st_mode & S_IFMT) == S_IFREG, status.st_size == 0 { return Data() }
    return try Data(contentsOf: url, options: mapped ? .mappedIfSafe : [])
}
