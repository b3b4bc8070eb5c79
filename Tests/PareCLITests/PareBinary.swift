import Foundation

/// The built `pare` binary: the test bundle sits beside the products in .build/<triple>/debug.
private final class BundleMarker {}

var pareBinary: URL {
    let bundle = Bundle(for: BundleMarker.self).bundleURL
    let products = bundle.pathExtension == "xctest" ? bundle.deletingLastPathComponent() : bundle
    return products.appendingPathComponent("pare")
}

/// Runs `executable` (a path, or a name looked up in PATH) with `arguments`; returns its exit
/// status and its standard output and error together.
func runProcess(_ executable: String, _ arguments: [String]) throws -> (status: Int32, output: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = [executable] + arguments
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    try process.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: data, as: UTF8.self))
}

/// Runs the built `pare` with `arguments`.
func runPare(_ arguments: [String]) throws -> (status: Int32, output: String) {
    try runProcess(pareBinary.path, arguments)
}
