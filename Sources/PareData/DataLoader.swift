import Foundation
import PareCore

/// Batches of a dataset, shuffled each epoch, decoded and transformed on background threads
/// ahead of the consumer.
///
/// Everything random is derived from `seed`: epoch `e`'s order from (`seed`, `e`), and the
/// transforms of the sample at dataset index `i` in epoch `e` from (`seed`, `e`, `i`). A
/// batch's contents therefore depend only on (`seed`, epoch, batch number), never on the
/// number of workers or on timing, and a run restarted at an epoch boundary sees the same
/// data as an uninterrupted one.
///
/// ```swift
/// let loader = DataLoader(train, batchSize: 128, shuffle: true, seed: 1, transforms: [RandomCrop(...), Normalize.cifar10])
/// let batches = loader.epoch(3)
/// while let batch = try batches.next() { ... }
/// print(batches.waitSeconds)  // time the consumer spent blocked on data
/// ```
public final class DataLoader: Sendable {
    public let dataset: any Dataset
    public let batchSize: Int
    public let shuffle: Bool
    public let seed: UInt64
    /// Leave out the last batch when it is smaller than `batchSize`.
    public let dropLast: Bool
    /// Applied in order to each sample's image after conversion to `f32` (`u8` / 255).
    public let transforms: [any Transform]
    /// Background threads making batches; 0 makes them on the consumer's thread in `next()`.
    public let workers: Int
    /// The most batches made ahead of the consumer (ready or in progress). Give at least
    /// `workers` to keep every worker busy.
    public let prefetch: Int

    public init(_ dataset: any Dataset, batchSize: Int, shuffle: Bool, seed: UInt64 = 0, dropLast: Bool = false,
                transforms: [any Transform] = [], workers: Int = 2, prefetch: Int = 4) {
        precondition(batchSize > 0, "batch size must be positive")
        precondition(workers >= 0 && prefetch >= 1, "need workers >= 0 and prefetch >= 1")
        self.dataset = dataset
        self.batchSize = batchSize
        self.shuffle = shuffle
        self.seed = seed
        self.dropLast = dropLast
        self.transforms = transforms
        self.workers = workers
        self.prefetch = prefetch
    }

    /// Batches in one epoch.
    public var batchesPerEpoch: Int {
        dropLast ? dataset.count / batchSize : (dataset.count + batchSize - 1) / batchSize
    }

    /// The dataset indices in the order epoch `epoch` visits them.
    public func order(epoch: Int) -> [Int] {
        let indices = Array(0..<dataset.count)
        guard shuffle else { return indices }
        var generator = SeededGenerator(seed: StreamSeed.derive(seed, StreamSeed.shuffle, UInt64(epoch)))
        return StreamSeed.shuffled(indices, generator: &generator)
    }

    /// The batches of epoch `epoch` (0-based). Workers start at once, so asking for the next
    /// epoch a little before it is needed hides its first batch's latency too.
    public func epoch(_ epoch: Int) -> EpochBatches {
        EpochBatches(loader: self, epoch: epoch)
    }

    /// Makes batch `number` of an epoch whose sample order is `order`.
    func makeBatch(epoch: Int, number: Int, order: [Int]) throws -> Batch {
        let indices = Array(order[(number * batchSize)..<min(order.count, (number + 1) * batchSize)])
        var images: Tensor?
        var labels: [Int] = []
        labels.reserveCapacity(indices.count)
        for (position, index) in indices.enumerated() {
            let sample = try dataset.sample(at: index)
            var generator = SeededGenerator(seed: StreamSeed.derive(seed, StreamSeed.augment, UInt64(epoch), UInt64(index)))
            let image = transforms.reduce(Self.unitFloat(sample.image)) { image, transform in
                transform(image, generator: &generator)
            }
            if images == nil { images = Tensor(zeros: image.shape.prepending(indices.count)) }
            let expected = images!.shape.droppingFirst
            guard image.shape == expected, image.dtype == .f32 else {
                throw DataLoaderError(sampleIndex: index, expected: expected, got: image.shape)
            }
            (images!.storage.pointer + position * image.byteCount).copyMemory(from: image.storage.pointer, byteCount: image.byteCount)
            labels.append(sample.label)
        }
        return Batch(images: images ?? Tensor(zeros: dataset.sampleShape.prepending(0)), labels: labels, indices: indices)
    }

    /// `u8` images scaled to 0–1 `f32` (torchvision's `ToTensor`); `f32` images unchanged.
    static func unitFloat(_ image: Tensor) -> Tensor {
        switch image.dtype {
        case .f32:
            return image
        case .u8:
            let result = Tensor(zeros: image.shape)
            let source = image.storage.pointer.assumingMemoryBound(to: UInt8.self)
            let destination = result.floats
            for i in 0..<image.elementCount { destination[i] = Float(source[i]) / 255 }
            return result
        case .bf16, .f16, .i8, .i32, .i64:
            preconditionFailure("dataset images must be u8 or f32, got \(image.dtype.rawValue)")
        }
    }
}

/// The batches of one epoch, in order. Not thread-safe: one consumer calls ``next()``.
/// Dropping it early stops its workers after their current batch.
public final class EpochBatches {
    public let epoch: Int
    /// Batches in this epoch.
    public let count: Int
    /// Seconds the consumer spent blocked in ``next()`` waiting for a batch.
    public private(set) var waitSeconds: Double = 0
    /// Calls to ``next()`` that found their batch not yet ready.
    public private(set) var waits = 0
    /// Batches handed out so far.
    public private(set) var delivered = 0

    private let loader: DataLoader
    private let order: [Int]
    private let queue: BatchQueue?
    private var failed = false

    init(loader: DataLoader, epoch: Int) {
        self.loader = loader
        self.epoch = epoch
        self.count = loader.batchesPerEpoch
        self.order = loader.order(epoch: epoch)
        if loader.workers > 0 && count > 0 {
            let queue = BatchQueue(count: count, prefetch: loader.prefetch)
            let order = order
            for _ in 0..<loader.workers {
                let thread = Thread {
                    while let number = queue.claim() {
                        queue.deliver(number, Result { try loader.makeBatch(epoch: epoch, number: number, order: order) })
                    }
                }
                thread.name = "pare-data-loader"
                thread.start()
            }
            self.queue = queue
        } else {
            self.queue = nil
        }
    }

    deinit { queue?.cancel() }

    /// The next batch, or nil at the end of the epoch. Rethrows the error of a sample that
    /// could not be read (it names the file); the epoch then ends.
    public func next() throws -> Batch? {
        guard !failed, delivered < count else { return nil }
        let number = delivered
        let result: Result<Batch, any Error>
        if let queue {
            let (taken, waited) = queue.take(number)
            result = taken
            if let waited {
                waits += 1
                waitSeconds += waited
            }
        } else {
            let start = ContinuousClock.now
            result = Result { try loader.makeBatch(epoch: epoch, number: number, order: order) }
            waits += 1
            waitSeconds += Self.seconds(ContinuousClock.now - start)
        }
        delivered += 1
        do {
            return try result.get()
        } catch {
            failed = true
            queue?.cancel()
            throw error
        }
    }

    static func seconds(_ duration: Duration) -> Double {
        let (seconds, attoseconds) = duration.components
        return Double(seconds) + Double(attoseconds) * 1e-18
    }
}

/// Hand-off between the workers and the consumer: workers claim batch numbers in order, at
/// most `prefetch` ahead of the consumer, and deliver them into slots the consumer takes in
/// order.
private final class BatchQueue: @unchecked Sendable {
    private let condition = NSCondition()
    private let count: Int
    private let prefetch: Int
    private var nextToClaim = 0
    private var taken = 0
    private var ready: [Int: Result<Batch, any Error>] = [:]
    private var cancelled = false

    init(count: Int, prefetch: Int) {
        self.count = count
        self.prefetch = prefetch
    }

    /// The next batch number to make, waiting while `prefetch` batches are ahead; nil when
    /// all are claimed or the epoch was dropped.
    func claim() -> Int? {
        condition.lock()
        defer { condition.unlock() }
        while !cancelled && nextToClaim < count && nextToClaim >= taken + prefetch { condition.wait() }
        guard !cancelled && nextToClaim < count else { return nil }
        nextToClaim += 1
        return nextToClaim - 1
    }

    func deliver(_ number: Int, _ result: Result<Batch, any Error>) {
        condition.lock()
        ready[number] = result
        condition.broadcast()
        condition.unlock()
    }

    /// Batch `number`, waiting for it if needed; also how long it waited (nil if not at all).
    func take(_ number: Int) -> (Result<Batch, any Error>, Double?) {
        condition.lock()
        defer { condition.unlock() }
        var waited: Double?
        if ready[number] == nil {
            let start = ContinuousClock.now
            while ready[number] == nil { condition.wait() }
            waited = EpochBatches.seconds(ContinuousClock.now - start)
        }
        let result = ready.removeValue(forKey: number)!
        taken = number + 1
        condition.broadcast()
        return (result, waited)
    }

    func cancel() {
        condition.lock()
        cancelled = true
        ready.removeAll()
        condition.broadcast()
        condition.unlock()
    }
}
