import ArgumentParser
import Foundation
import PareCore
import PareIO
import PareModels

/// A model named on the command line: a zoo name, or a path to a native `.safetensors` file.
struct ModelArgument {
    let text: String

    /// Whether the argument names an existing file (or looks like a path) rather than a zoo model.
    var isFile: Bool {
        text.hasSuffix(".safetensors") || text.contains("/") || FileManager.default.fileExists(atPath: text)
    }

    /// Loads the file, or builds the zoo model with seeded initial weights.
    func graph(options: ZooOptions) throws -> Graph {
        if isFile {
            let url = URL(fileURLWithPath: text)
            guard FileManager.default.fileExists(atPath: url.path) else {
                throw CommandError("no such model file: \(text)")
            }
            return try ModelFile.load(from: url)
        }
        return try Zoo.build(text, options: options)
    }
}

/// Parses `CxHxW` (e.g. `3x224x224`) into a per-sample input shape.
func parseInputShape(_ text: String) throws -> Shape {
    let parts = text.lowercased().split(separator: "x", omittingEmptySubsequences: false).map { Int($0) }
    guard parts.count == 3, parts.allSatisfy({ ($0 ?? 0) > 0 }) else {
        throw ValidationError("--input '\(text)' is not CxHxW with positive integers, e.g. 3x224x224")
    }
    return Shape(parts.map { $0! })
}

/// A failure to report as `Error: <message>` without a usage line.
struct CommandError: Error, CustomStringConvertible {
    let description: String
    init(_ message: String) { description = message }
}
