import Foundation
import PareCore
import PareData
import XCTest

/// A dataset whose reads take `delay` seconds and are counted, to see what the loader's
/// workers do ahead of the consumer.
final class SlowDataset: Dataset, @unchecked Sendable {
    let base: InMemoryDataset
    let delay: Double
    private let lock = NSLock()
    private var _reads = 0

    init(_ base: InMemoryDataset, delay: Double) {
        self.base = base
        self.delay = delay
    }

    var reads: Int { lock.withLock { _reads } }
    var count: Int { base.count }
    var classes: Int { base.classes }
    var classNames: [String]? { nil }
    var sampleShape: Shape { base.sampleShape }
    func label(at index: Int) -> Int { base.label(at: index) }

    func sample(at index: Int) throws -> Sample {
        Thread.sleep(forTimeInterval: delay)
        lock.withLock { _reads += 1 }
        return base.sample(at: index)
    }
}

final class DataLoaderTests: XCTestCase {
    /// `count` random 3x8x8 images; the first pixel of sample `i` is `i % 256`, labels `i % 10`.
    func dataset(count: Int) -> InMemoryDataset {
        var pixels = randomBytes(count * 192, seed: 11)
        for i in 0..<count { pixels[i * 192] = UInt8(truncatingIfNeeded: i) }
        return InMemoryDataset(sampleShape: [3, 8, 8], classes: 10, classNames: nil, pixels: pixels, labels: (0..<count).map { $0 % 10 })
    }

    func allBatches(_ loader: DataLoader, epoch: Int) throws -> [Batch] {
        let batches = loader.epoch(epoch)
        var result: [Batch] = []
        while let batch = try batches.next() { result.append(batch) }
        XCTAssertEqual(result.count, batches.count)
        XCTAssertNil(try batches.next())
        return result
    }

    func testEverySampleOncePerEpochWithValuesAndLabels() throws {
        let data = dataset(count: 50)
        let loader = DataLoader(data, batchSize: 16, shuffle: true, seed: 3, workers: 2)
        XCTAssertEqual(loader.batchesPerEpoch, 4)
        let batches = try allBatches(loader, epoch: 0)
        XCTAssertEqual(batches.map(\.count), [16, 16, 16, 2])
        XCTAssertEqual(batches.flatMap(\.indices).sorted(), Array(0..<50))
        XCTAssertEqual(batches.flatMap(\.indices), loader.order(epoch: 0))
        XCTAssertNotEqual(loader.order(epoch: 0), Array(0..<50))
        for batch in batches {
            XCTAssertEqual(batch.images.shape, [batch.count, 3, 8, 8])
            let values = batch.images.scalars
            for (position, index) in batch.indices.enumerated() {
                XCTAssertEqual(batch.labels[position], index % 10)
                let expected = byteValues(data.sample(at: index).image).map { Float($0) / 255 }
                XCTAssertEqual(Array(values[(position * 192)..<((position + 1) * 192)]), expected)
            }
        }
    }

    func testDropLastAndNoShuffle() throws {
        let loader = DataLoader(dataset(count: 50), batchSize: 16, shuffle: false, dropLast: true, workers: 1)
        let batches = try allBatches(loader, epoch: 5)
        XCTAssertEqual(batches.map(\.count), [16, 16, 16])
        XCTAssertEqual(batches.flatMap(\.indices), Array(0..<48))
    }

    func testEpochsReshuffleReproducibly() throws {
        let loader = DataLoader(dataset(count: 64), batchSize: 8, shuffle: true, seed: 9)
        XCTAssertNotEqual(loader.order(epoch: 0), loader.order(epoch: 1))
        XCTAssertEqual(Set(loader.order(epoch: 1)), Set(0..<64))
        // A new loader with the same seed (a resumed run) sees the same epoch 1.
        let resumed = DataLoader(dataset(count: 64), batchSize: 8, shuffle: true, seed: 9, workers: 3)
        XCTAssertEqual(try allBatches(resumed, epoch: 1).flatMap(\.indices), loader.order(epoch: 1))
        XCTAssertNotEqual(DataLoader(dataset(count: 64), batchSize: 8, shuffle: true, seed: 10).order(epoch: 1), loader.order(epoch: 1))
    }

    func testAugmentedBatchesDoNotDependOnWorkerCount() throws {
        let data = dataset(count: 40)
        let transforms = try AugmentationList(parsing: "crop=2,flip,rotate,jitter,perspective,erase")
            .pipeline(sampleShape: data.sampleShape, normalize: .cifar10).transforms
        func run(workers: Int, prefetch: Int) throws -> [[Float]] {
            let loader = DataLoader(data, batchSize: 6, shuffle: true, seed: 4, transforms: transforms, workers: workers, prefetch: prefetch)
            return try (0..<2).flatMap { try allBatches(loader, epoch: $0).map(\.images.scalars) }
        }
        let one = try run(workers: 1, prefetch: 1)
        XCTAssertEqual(one, try run(workers: 3, prefetch: 5))
        XCTAssertEqual(one, try run(workers: 0, prefetch: 1))
        // The augmentation really happened, and differs between epochs.
        let plain = DataLoader(data, batchSize: 6, shuffle: true, seed: 4, transforms: [Normalize.cifar10], workers: 1)
        XCTAssertNotEqual(one[0], try allBatches(plain, epoch: 0)[0].images.scalars)
        let loader = DataLoader(data, batchSize: 40, shuffle: false, seed: 4, transforms: transforms, workers: 1)
        XCTAssertNotEqual(try allBatches(loader, epoch: 0)[0].images.scalars, try allBatches(loader, epoch: 1)[0].images.scalars)
    }

    func testPrefetchIsBoundedAndHidesDecodingTime() throws {
        // 2 ms a sample, 4 samples a batch: ~8 ms a batch on one worker.
        let slow = SlowDataset(dataset(count: 48), delay: 0.002)
        let loader = DataLoader(slow, batchSize: 4, shuffle: true, seed: 1, workers: 2, prefetch: 3)
        let batches = loader.epoch(0)
        Thread.sleep(forTimeInterval: 0.3)
        // Workers stopped after `prefetch` batches.
        XCTAssertEqual(slow.reads, 3 * 4)
        // Those are ready: taking them does not wait.
        for _ in 0..<3 { XCTAssertNotNil(try batches.next()) }
        XCTAssertEqual(batches.waits, 0)
        XCTAssertEqual(batches.waitSeconds, 0)
        // A consumer slower than the workers (20 ms a batch) never waits either.
        while try batches.next() != nil { Thread.sleep(forTimeInterval: 0.02) }
        XCTAssertEqual(batches.delivered, 12)
        XCTAssertLessThanOrEqual(batches.waits, 1, "waited \(batches.waitSeconds) s")
        // With no workers the consumer does the work and the wait shows it.
        let synchronous = DataLoader(slow, batchSize: 4, shuffle: false, workers: 0).epoch(0)
        _ = try synchronous.next()
        XCTAssertEqual(synchronous.waits, 1)
        XCTAssertGreaterThan(synchronous.waitSeconds, 0.007)
    }

    func testDroppingAnEpochEarlyStopsItsWorkers() throws {
        let slow = SlowDataset(dataset(count: 400), delay: 0.001)
        do {
            let batches = DataLoader(slow, batchSize: 4, shuffle: false, workers: 2, prefetch: 2).epoch(0)
            _ = try batches.next()
        }
        Thread.sleep(forTimeInterval: 0.1)
        let reads = slow.reads
        Thread.sleep(forTimeInterval: 0.1)
        XCTAssertEqual(slow.reads, reads)
        XCTAssertLessThanOrEqual(reads, 5 * 4)
    }

    func testDecodingErrorsReachTheConsumerNamingTheFile() throws {
        let root = try temporaryDirectory(self)
        for i in 0..<5 { try write(rgbPNG(width: 2, height: 2, pixels: randomBytes(12, seed: UInt64(i))), to: path(root, "a", "\(i).png")) }
        try write(Array("broken".utf8), to: path(root, "a", "5.png"))
        let folder = try ImageFolder(root: root, geometry: .resize(height: 2, width: 2))
        let batches = DataLoader(folder, batchSize: 2, shuffle: false, workers: 2).epoch(0)
        XCTAssertNotNil(try batches.next())
        XCTAssertNotNil(try batches.next())
        XCTAssertThrowsError(try batches.next()) { error in
            XCTAssertEqual((error as? DatasetError)?.file, path(root, "a", "5.png"))
        }
        XCTAssertNil(try batches.next())
    }

    func testSamplesOfDifferentSizesAreReported() throws {
        let data = dataset(count: 4)
        let loader = DataLoader(data, batchSize: 4, shuffle: false, transforms: [OddSizes()], workers: 1)
        XCTAssertThrowsError(try loader.epoch(0).next()) { error in
            XCTAssertEqual(error as? DataLoaderError, DataLoaderError(sampleIndex: 1, expected: [3, 8, 8], got: [3, 4, 4]))
        }
    }
}

/// Crops odd-numbered samples (by their first pixel, which is their index) to 4x4.
private struct OddSizes: Transform {
    func callAsFunction(_ image: Tensor, generator: inout SeededGenerator) -> Tensor {
        Int((image.scalars[0] * 255).rounded()) % 2 == 1 ? CenterCrop(height: 4, width: 4)(image, generator: &generator) : image
    }
}
