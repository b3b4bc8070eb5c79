import PareCore

/// A model file that is a valid safetensors file but not a loadable Pare model, or a graph
/// that cannot be saved: which file, and what is wrong.
public struct ModelFileError: Error, CustomStringConvertible, Equatable {
    public var file: String
    public var problem: Problem

    public init(file: String, problem: Problem) {
        self.file = file
        self.problem = problem
    }

    public enum Problem: Equatable, Sendable {
        /// Tensors without a `pare.graph` architecture: weights saved by PyTorch or another tool.
        case plainStateDict(tensorCount: Int)
        /// `pare.format` is missing (`nil`) or a version this build does not read.
        case unsupportedFormat(found: String?)
        /// The `pare.graph` JSON does not decode to nodes and outputs.
        case invalidArchitecture(reason: String)
        /// The tensors do not match the parameters the architecture needs.
        case parametersMismatch(missing: [String], unexpected: [String], wrongShape: [ParameterMismatch])
        /// The architecture fails shape inference or validation.
        case invalidGraph(GraphError)
    }

    /// A tensor whose shape or dtype differs from what its node needs.
    public struct ParameterMismatch: Equatable, Sendable, CustomStringConvertible {
        public var name: String
        public var expected: String
        public var found: String

        public init(name: String, expected: String, found: String) {
            self.name = name
            self.expected = expected
            self.found = found
        }

        public var description: String { "\(name) (expected \(expected), found \(found))" }
    }

    public var description: String { "\(file): \(problemDescription)" }

    private var problemDescription: String {
        switch problem {
        case let .plainStateDict(tensorCount):
            return "a plain state dict (\(tensorCount) tensors, no pare.graph architecture in __metadata__); "
                + "import it into a zoo model with `pare import \(file) --model NAME`"
        case let .unsupportedFormat(found):
            let version = found.map { "'\($0)'" } ?? "missing"
            return "pare.format is \(version); this build reads version \(ModelFile.formatVersion)"
        case let .invalidArchitecture(reason):
            return "pare.graph is not a valid architecture: \(reason)"
        case let .parametersMismatch(missing, unexpected, wrongShape):
            var parts: [String] = []
            if !missing.isEmpty { parts.append("missing \(missing.joined(separator: ", "))") }
            if !unexpected.isEmpty { parts.append("unexpected \(unexpected.joined(separator: ", "))") }
            if !wrongShape.isEmpty { parts.append("wrong shape or dtype \(wrongShape.map(\.description).joined(separator: ", "))") }
            return "tensors do not match the architecture: " + parts.joined(separator: "; ")
        case let .invalidGraph(error):
            return error.description
        }
    }
}
