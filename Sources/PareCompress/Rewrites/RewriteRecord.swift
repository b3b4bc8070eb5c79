/// What one rewrite did to one layer (or, for `drop-block`, one residual block).
public struct RewriteRecord: Codable, Equatable, Sendable {
    /// The rewrite: `dwpw`, `svd`, `tucker`, `grouped`, `drop-block` or `kernel`.
    public var kind: String
    /// The replaced node's name (a block's name for `drop-block`).
    public var node: String
    /// The nodes that stand in its place, in order (empty when a block was dropped).
    public var replacement: [String]
    /// What the layer was and became, e.g. `conv 3x3 64->64 -> dw 3x3 + bn + relu + pw 64->64`.
    public var detail: String
    /// Trainable parameters of the old layer and of its replacement.
    public var parametersBefore: Int
    public var parametersAfter: Int
    /// Multiply-accumulates per sample of the old layer and of its replacement.
    public var macsBefore: Int
    public var macsAfter: Int
    /// `‖y_new − y_old‖ / ‖y_old‖` of the replacement's output against the old layer's on
    /// seeded random normal input of the layer's input shape (inference mode); nil when not
    /// measured.
    public var relativeError: Double?

    public init(kind: String, node: String, replacement: [String], detail: String, parametersBefore: Int,
                parametersAfter: Int, macsBefore: Int, macsAfter: Int, relativeError: Double?) {
        self.kind = kind; self.node = node; self.replacement = replacement; self.detail = detail
        self.parametersBefore = parametersBefore; self.parametersAfter = parametersAfter
        self.macsBefore = macsBefore; self.macsAfter = macsAfter; self.relativeError = relativeError
    }
}

/// A layer a rewrite could have taken by its selection but did not, and why.
public struct SkippedLayer: Codable, Equatable, Sendable {
    public var kind: String
    public var node: String
    public var reason: String

    public init(kind: String, node: String, reason: String) {
        self.kind = kind; self.node = node; self.reason = reason
    }
}

/// Errors of the rewrites, each naming what to change.
public enum RewriteError: Error, CustomStringConvertible, Equatable {
    /// The selection matched no layer the rewrite can take.
    case nothingMatched(kind: String, selection: String, skipped: [SkippedLayer])
    /// A layer named exactly by `--only` cannot be taken.
    case cannotRewrite(kind: String, node: String, reason: String)
    /// Settings that do not make sense (a rank below 1, an energy outside (0, 1]).
    case invalidSettings(String)
    case numerical(String)

    public var description: String {
        switch self {
        case let .nothingMatched(kind, selection, skipped):
            var text = "\(kind): no layer matched \(selection)"
            if !skipped.isEmpty {
                text += "; skipped: " + skipped.prefix(8).map { "\($0.node) (\($0.reason))" }.joined(separator: ", ")
                if skipped.count > 8 { text += ", and \(skipped.count - 8) more" }
            }
            return text
        case let .cannotRewrite(kind, node, reason): return "\(kind): cannot rewrite '\(node)', named by --only: \(reason)"
        case let .invalidSettings(text): return text
        case let .numerical(text): return text
        }
    }
}
