import PareCore

/// A validation set held out from a training set: a seeded, deterministic choice of
/// `fraction` of the samples, optionally the same fraction of every class.
public struct ValidationSplit: Sendable {
    /// The samples kept for training, in their original order.
    public let train: Subset
    /// The held-out samples, in their original order.
    public let validation: Subset

    /// Holds out `round(fraction * n)` of the `n` samples (per class when `stratified`),
    /// chosen by a Fisher–Yates shuffle seeded with `seed`. The same arguments always give
    /// the same split.
    public init(_ dataset: any Dataset, fraction: Double, seed: UInt64, stratified: Bool = false) {
        precondition(fraction >= 0 && fraction <= 1, "validation fraction \(fraction) outside [0, 1]")
        var generator = SeededGenerator(seed: StreamSeed.derive(seed, StreamSeed.validationSplit))
        var groups: [[Int]]
        if stratified {
            groups = Array(repeating: [], count: dataset.classes)
            for index in 0..<dataset.count { groups[dataset.label(at: index)].append(index) }
        } else {
            groups = [Array(0..<dataset.count)]
        }
        var held = [Bool](repeating: false, count: dataset.count)
        for group in groups {
            let shuffled = StreamSeed.shuffled(group, generator: &generator)
            let take = Int((fraction * Double(group.count)).rounded())
            for index in shuffled.prefix(take) { held[index] = true }
        }
        train = Subset(dataset, indices: (0..<dataset.count).filter { !held[$0] })
        validation = Subset(dataset, indices: (0..<dataset.count).filter { held[$0] })
    }
}
