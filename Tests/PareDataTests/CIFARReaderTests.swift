import Foundation
import PareCore
import PareData
import XCTest

final class CIFARReaderTests: XCTestCase {
    func record(labels: [UInt8], seed: UInt64) -> [UInt8] {
        labels + randomBytes(3072, seed: seed)
    }

    func testCIFAR10TrainBatchesInOrderAndTestBatch() throws {
        let directory = try temporaryDirectory(self)
        let folder = path(directory, "cifar-10-batches-bin")  // the archive's own folder
        var expected: [(label: Int, pixels: [UInt8])] = []
        for batch in 1...5 {
            var bytes: [UInt8] = []
            for record in 0..<2 {
                let label = UInt8((batch * 3 + record) % 10)
                let data = self.record(labels: [label], seed: UInt64(batch * 10 + record))
                bytes += data
                expected.append((Int(label), Array(data.dropFirst())))
            }
            try write(bytes, to: path(folder, "data_batch_\(batch).bin"))
        }
        try write(record(labels: [7], seed: 99), to: path(folder, "test_batch.bin"))

        let train = try CIFAR.cifar10(.train, directory: directory)
        XCTAssertEqual(train.count, 10)
        XCTAssertEqual(train.sampleShape, [3, 32, 32])
        XCTAssertEqual(train.classNames?.first, "airplane")
        for (index, item) in expected.enumerated() {
            let sample = train.sample(at: index)
            XCTAssertEqual(sample.label, item.label)
            XCTAssertEqual(byteValues(sample.image), item.pixels)
        }
        let test = try CIFAR.cifar10(.test, directory: folder)
        XCTAssertEqual(test.count, 1)
        XCTAssertEqual(test.sample(at: 0).label, 7)
        XCTAssertEqual(byteValues(test.sample(at: 0).image), Array(record(labels: [7], seed: 99).dropFirst()))
    }

    func testCIFAR100FineAndCoarseLabels() throws {
        let directory = try temporaryDirectory(self)
        let records = [record(labels: [19, 99], seed: 1), record(labels: [4, 30], seed: 2), record(labels: [0, 0], seed: 3)]
        try write(records.flatMap { $0 }, to: path(directory, "train.bin"))
        try write((0..<20).map { "super\($0)" }.joined(separator: "\n").appending("\n").data(using: .utf8).map(Array.init)!,
                  to: path(directory, "coarse_label_names.txt"))
        let fine = try CIFAR.cifar100(.train, directory: directory)
        XCTAssertEqual(fine.labels, [99, 30, 0])
        XCTAssertEqual(fine.classes, 100)
        XCTAssertNil(fine.classNames)
        XCTAssertEqual(byteValues(fine.sample(at: 1).image), Array(records[1].dropFirst(2)))
        let coarse = try CIFAR.cifar100(.train, directory: directory, label: .coarse)
        XCTAssertEqual(coarse.labels, [19, 4, 0])
        XCTAssertEqual(coarse.classes, 20)
        XCTAssertEqual(coarse.classNames?[19], "super19")
    }

    func testSizeNotMultipleOfRecord() throws {
        let directory = try temporaryDirectory(self)
        let file = path(directory, "test_batch.bin")
        try write(record(labels: [1], seed: 1) + [0, 0, 0], to: file)
        assertDatasetError(try CIFAR.cifar10(.test, directory: directory), file: file) {
            $0 == .sizeNotMultipleOfRecord(size: 3076, recordSize: 3073)
        }
        let file100 = path(directory, "test.bin")
        try write(Array(record(labels: [1, 2], seed: 1).prefix(3000)), to: file100)
        assertDatasetError(try CIFAR.cifar100(.test, directory: directory), file: file100) {
            $0 == .sizeNotMultipleOfRecord(size: 3000, recordSize: 3074)
        }
    }

    func testMissingBatchAndLabelOutOfRange() throws {
        let directory = try temporaryDirectory(self)
        for batch in 1...4 { try write(record(labels: [1], seed: UInt64(batch)), to: path(directory, "data_batch_\(batch).bin")) }
        assertDatasetError(try CIFAR.cifar10(.train, directory: directory), file: path(directory, "data_batch_5.bin")) {
            if case .fileMissing = $0 { return true }
            return false
        }
        let file = path(directory, "test_batch.bin")
        try write(record(labels: [3], seed: 1) + record(labels: [10], seed: 2), to: file)
        assertDatasetError(try CIFAR.cifar10(.test, directory: directory), file: file) {
            $0 == .labelOutOfRange(index: 1, label: 10, classes: 10)
        }
        let file100 = path(directory, "train.bin")
        try write(record(labels: [20, 5], seed: 1), to: file100)
        XCTAssertEqual(try CIFAR.cifar100(.train, directory: directory).labels, [5])
        assertDatasetError(try CIFAR.cifar100(.train, directory: directory, label: .coarse), file: file100) {
            $0 == .labelOutOfRange(index: 0, label: 20, classes: 20)
        }
    }
}
