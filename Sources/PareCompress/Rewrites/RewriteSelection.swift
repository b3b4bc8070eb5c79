import PareCore

/// Which layers a rewrite may take: node-name glob patterns (`*` matches any run of
/// characters, dots included: `layer3.*`) to take only and to skip, and layer kinds.
///
/// A node is selected when it matches one of `only` (or `only` is empty), none of `skip`,
/// and one of `kinds` (or `kinds` is empty). A layer's kinds are its op (`conv2d`,
/// `linear`), its kernel for a convolution (`conv3x3`, `conv1x1`, ...) and `depthwise` or
/// `grouped` where it is one.
public struct RewriteSelection: Codable, Equatable, Sendable {
    public var only: [String]
    public var skip: [String]
    public var kinds: [String]

    public init(only: [String] = [], skip: [String] = [], kinds: [String] = []) {
        self.only = only; self.skip = skip; self.kinds = kinds
    }

    public func selects(_ node: Node, inputShape: Shape?) -> Bool {
        guard only.isEmpty || only.contains(where: { Self.matches($0, node.name) }) else { return false }
        guard !skip.contains(where: { Self.matches($0, node.name) }) else { return false }
        guard !kinds.isEmpty else { return true }
        let own = Self.kinds(of: node.op, inputChannels: inputShape?.dimensions.first)
        return kinds.contains { own.contains($0) }
    }

    /// Whether `name` is named by an `only` pattern without wildcards.
    public func namesExplicitly(_ name: String) -> Bool { only.contains(name) }

    /// The selection as the user gave it, for error messages.
    public var description: String {
        var parts: [String] = []
        if !only.isEmpty { parts.append("--only " + only.map { "'\($0)'" }.joined(separator: " ")) }
        if !skip.isEmpty { parts.append("--skip " + skip.map { "'\($0)'" }.joined(separator: " ")) }
        if !kinds.isEmpty { parts.append("--kind " + kinds.joined(separator: " ")) }
        return parts.isEmpty ? "every layer" : parts.joined(separator: " ")
    }

    /// Glob match: `*` is any run of characters (possibly empty); everything else is literal.
    public static func matches(_ pattern: String, _ name: String) -> Bool {
        let p = Array(pattern), s = Array(name)
        var i = 0, j = 0, star = -1, mark = 0
        while j < s.count {
            if i < p.count && p[i] != "*" && p[i] == s[j] {
                i += 1; j += 1
            } else if i < p.count && p[i] == "*" {
                star = i; mark = j; i += 1
            } else if star >= 0 {
                i = star + 1; mark += 1; j = mark
            } else {
                return false
            }
        }
        while i < p.count && p[i] == "*" { i += 1 }
        return i == p.count
    }

    static func kinds(of op: Op, inputChannels: Int?) -> [String] {
        switch op {
        case let .conv2d(a):
            var result = ["conv2d", "conv\(a.kernelSize[0])x\(a.kernelSize[1])"]
            if a.groups > 1 { result.append(a.groups == inputChannels ? "depthwise" : "grouped") }
            return result
        case .linear: return ["linear"]
        case .input, .batchNorm, .relu, .relu6, .hardSwish, .sigmoid, .leakyRelu, .prelu, .elu, .tanh, .silu,
             .hardSigmoid, .localResponseNorm, .pad, .mul, .maxPool, .avgPool, .globalAvgPool, .add,
             .concat, .channelShuffle, .channelSlice, .flatten, .unflatten, .dropout, .softmax:
            return [op.kind]
        }
    }
}
