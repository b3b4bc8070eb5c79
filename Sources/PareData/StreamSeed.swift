import PareCore

/// Independent random streams derived from one seed, so that each use of randomness (the
/// shuffle of epoch 3, the augmentation of sample 17 in epoch 3) has its own generator and
/// does not depend on the order in which threads ask for numbers.
enum StreamSeed {
    /// Domain tags, so streams for different purposes never coincide.
    static let shuffle: UInt64 = 0x5348_5546  // "SHUF"
    static let augment: UInt64 = 0x4155_474D  // "AUGM"
    static let validationSplit: UInt64 = 0x5641_4C53  // "VALS"

    /// A seed mixed from `seed` and `parts` with SplitMix64's finaliser after each part.
    static func derive(_ seed: UInt64, _ parts: UInt64...) -> UInt64 {
        var state = mix(seed)
        for part in parts { state = mix(state ^ mix(part &+ 0x9E37_79B9_7F4A_7C15)) }
        return state
    }

    private static func mix(_ value: UInt64) -> UInt64 {
        var z = value &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// `items` in a Fisher–Yates order drawn from `generator`.
    static func shuffled<T>(_ items: [T], generator: inout SeededGenerator) -> [T] {
        var result = items
        guard result.count > 1 else { return result }
        for i in stride(from: result.count - 1, to: 0, by: -1) {
            result.swapAt(i, generator.integer(below: i + 1))
        }
        return result
    }
}

extension SeededGenerator {
    /// A uniform integer in `0..<bound` (multiply-shift; the bias is below 2^-32 for the
    /// bounds used here).
    mutating func integer(below bound: Int) -> Int {
        precondition(bound > 0, "integer(below:) needs a positive bound")
        return Int(next().multipliedFullWidth(by: UInt64(bound)).high)
    }

    /// A uniform integer in `low..<high` (torch.randint(low, high)).
    mutating func integer(from low: Int, below high: Int) -> Int {
        low + integer(below: high - low)
    }

    /// A uniform Float in `[low, high)`.
    mutating func uniform(_ low: Float, _ high: Float) -> Float {
        low + (high - low) * nextUniform()
    }
}
