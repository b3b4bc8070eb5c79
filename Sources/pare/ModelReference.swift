import Foundation
import PareCore
import PareIO
import PareModels

/// A `MODEL|FILE` argument: a zoo model name, or a path to a native `.safetensors` model.
struct ModelReference {
    var text: String

    /// A path when it ends in `.safetensors` or contains a `/`, or names an existing file and
    /// no zoo model; otherwise a zoo name.
    var isFile: Bool {
        if text.hasSuffix(".safetensors") || text.contains("/") { return true }
        return !Zoo.names.contains(text.lowercased()) && FileManager.default.fileExists(atPath: text)
    }

    /// The model's graph. A zoo model is built for `input` and `classes` (its defaults when
    /// nil), with parameters only when `withParameters`; a file is loaded, and `input`
    /// replaces its input shape (its weights must still fit). `seed` seeds a zoo model's
    /// initial weights. Throws `UnknownModelError`
    /// (listing the zoo) for an unknown name, a `SafetensorsError` naming a missing file, and
    /// `CommandError` for options the model cannot take.
    func graph(input: Shape?, classes: Int?, withParameters: Bool, seed: UInt64 = 0, widthMultiplier: Double? = nil) throws -> Graph {
        guard isFile else {
            let entry = try Zoo.entry(text)
            let graph = try entry.build(ZooOptions(classes: classes, input: input, widthMultiplier: widthMultiplier, seed: seed,
                                                   withParameters: withParameters))
            if let input, graph.inputShapes != [input] {
                throw CommandError("model '\(entry.name)' does not take --input \(input): it is built for "
                                          + graph.inputShapes.map(\.description).joined(separator: ", "))
            }
            return graph
        }
        if classes != nil || widthMultiplier != nil {
            throw CommandError("--classes and --width-multiplier apply to zoo models; \(text) is fixed by its weights")
        }
        var graph = try ModelFile.load(from: URL(fileURLWithPath: text))
        if let input {
            let inputs = graph.inputIndices
            guard inputs.count == 1 else {
                throw CommandError("--input needs a model with one input; \(text) has \(inputs.count)")
            }
            graph.nodes[inputs[0]].op = .input(shape: input)
            do {
                try graph.validate()
            } catch let error as GraphError {
                throw CommandError("\(text) does not take --input \(input): \(error)")
            }
        }
        return graph
    }
}

/// A malformed `--input`.
struct InputShapeError: Error, CustomStringConvertible {
    var text: String
    var description: String {
        "'\(text)' is not an input shape; expected CxHxW, three positive integers such as 3x224x224"
    }
}

/// Parses `--input CxHxW` (e.g. `3x224x224`) into a per-sample shape.
func parseInputShape(_ text: String) throws -> Shape {
    let parts = text.split(separator: "x", omittingEmptySubsequences: false)
    let extents = parts.compactMap { Int($0) }.filter { $0 > 0 }
    guard parts.count == 3, extents.count == 3 else { throw InputShapeError(text: text) }
    return Shape(extents)
}

extension Graph {
    /// Per-sample shapes of the graph's inputs, in order.
    var inputShapes: [Shape] {
        inputIndices.compactMap { index in
            if case let .input(shape) = nodes[index].op { return shape }
            return nil
        }
    }
}
