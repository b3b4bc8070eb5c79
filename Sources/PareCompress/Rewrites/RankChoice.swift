/// How a low-rank rewrite picks its rank: a fixed value (capped at the full rank), or the
/// smallest rank whose leading singular values keep a fraction of the energy
/// (`Σ_{i<r} σ_i² ≥ energy · Σ σ²`).
public enum RankChoice: Codable, Equatable, Sendable, CustomStringConvertible {
    case fixed(Int)
    case energy(Double)

    public static let standard = RankChoice.energy(0.9)

    public func check() throws {
        switch self {
        case let .fixed(r) where r < 1: throw RewriteError.invalidSettings("rank must be at least 1, got \(r)")
        case let .energy(e) where !(e > 0 && e <= 1): throw RewriteError.invalidSettings("energy must be in (0, 1], got \(e)")
        case .fixed, .energy: return
        }
    }

    /// The rank for these singular values (descending).
    public func rank(_ singularValues: [Double]) -> Int {
        switch self {
        case let .fixed(r): return max(1, min(r, singularValues.count))
        case let .energy(e): return SingularValueDecomposition.rank(singularValues, keepingEnergy: e)
        }
    }

    public var description: String {
        switch self {
        case let .fixed(r): return "rank \(r)"
        case let .energy(e): return "energy \(e)"
        }
    }
}
