/// A small, fast, seedable random number generator (xoshiro256**, seeded by SplitMix64).
///
/// Everything random in Pare takes one of these, so a seed reproduces a run exactly.
public struct SeededGenerator: RandomNumberGenerator, Codable, Sendable, Equatable {
    public var state: [UInt64]

    public init(seed: UInt64) {
        var s = seed
        func splitMix() -> UInt64 {
            s &+= 0x9E37_79B9_7F4A_7C15
            var z = s
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        state = [splitMix(), splitMix(), splitMix(), splitMix()]
    }

    public mutating func next() -> UInt64 {
        let result = rotl(state[1] &* 5, 7) &* 9
        let t = state[1] << 17
        state[2] ^= state[0]
        state[3] ^= state[1]
        state[1] ^= state[2]
        state[0] ^= state[3]
        state[2] ^= t
        state[3] = rotl(state[3], 45)
        return result
    }

    private func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }

    /// A uniform Float in [0, 1).
    public mutating func nextUniform() -> Float {
        Float(next() >> 40) * (1.0 / Float(1 << 24))
    }

    /// A standard normal sample (Box–Muller).
    public mutating func nextNormal() -> Float {
        var u1 = Double(next() >> 11) * (1.0 / Double(1 << 53))
        if u1 < 1e-300 { u1 = 1e-300 }
        let u2 = Double(next() >> 11) * (1.0 / Double(1 << 53))
        return Float((-2 * _log(u1)).squareRoot() * _cos(2 * Double.pi * u2))
    }
}

@inline(__always) private func _log(_ x: Double) -> Double {
    #if canImport(Glibc)
    return Glibc.log(x)
    #else
    return Darwin.log(x)
    #endif
}

@inline(__always) private func _cos(_ x: Double) -> Double {
    #if canImport(Glibc)
    return Glibc.cos(x)
    #else
    return Darwin.cos(x)
    #endif
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension Tensor {
    /// Independent normal samples with the given mean and standard deviation.
    public static func randomNormal(_ shape: Shape, mean: Float = 0, std: Float = 1,
                                    generator: inout SeededGenerator) -> Tensor {
        let t = Tensor(zeros: shape)
        let p = t.floats
        for i in 0..<p.count { p[i] = mean + std * generator.nextNormal() }
        return t
    }

    /// Independent uniform samples in [low, high).
    public static func randomUniform(_ shape: Shape, low: Float = 0, high: Float = 1,
                                     generator: inout SeededGenerator) -> Tensor {
        let t = Tensor(zeros: shape)
        let p = t.floats
        for i in 0..<p.count { p[i] = low + (high - low) * generator.nextUniform() }
        return t
    }
}
