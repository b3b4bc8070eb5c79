import Foundation

/// CIFAR-10 and CIFAR-100, binary versions (the `*-binary.tar.gz` downloads).
///
/// A file is a run of fixed-size records: the label byte(s), then a 32x32 image as 1024 red,
/// 1024 green and 1024 blue bytes (already `[3, 32, 32]`). CIFAR-10 records have one label
/// byte; its training set is `data_batch_1.bin`…`data_batch_5.bin`, its test set
/// `test_batch.bin`. CIFAR-100 records have two, coarse (20 superclasses) then fine (100
/// classes), in `train.bin` and `test.bin`. The directory given may be the one holding the
/// files or the one the archive was extracted into (`cifar-10-batches-bin`,
/// `cifar-100-binary` inside it).
public enum CIFAR {
    public static let imageBytes = 3 * 32 * 32

    public static let cifar10ClassNames = [
        "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
    ]

    /// Which of CIFAR-100's two labels to use.
    public enum Label100: String, Sendable {
        /// The 100 classes.
        case fine
        /// The 20 superclasses.
        case coarse
    }

    /// CIFAR-10's `split` from `directory`.
    public static func cifar10(_ split: Split, directory: String) throws -> InMemoryDataset {
        let folder = resolve(directory, archiveFolder: "cifar-10-batches-bin")
        let names = split == .train ? (1...5).map { "data_batch_\($0).bin" } : ["test_batch.bin"]
        return try read(names.map { (folder as NSString).appendingPathComponent($0) }, labelBytes: 1, labelIndex: 0,
                        classes: 10, classNames: cifar10ClassNames)
    }

    /// CIFAR-100's `split` from `directory`, labelled by `label`. Class names come from
    /// `fine_label_names.txt` / `coarse_label_names.txt` beside the data when present.
    public static func cifar100(_ split: Split, directory: String, label: Label100 = .fine) throws -> InMemoryDataset {
        let folder = resolve(directory, archiveFolder: "cifar-100-binary")
        let file = (folder as NSString).appendingPathComponent(split == .train ? "train.bin" : "test.bin")
        let classes = label == .fine ? 100 : 20
        let namesFile = (folder as NSString).appendingPathComponent("\(label.rawValue)_label_names.txt")
        var classNames: [String]?
        if let text = try? String(contentsOfFile: namesFile, encoding: .utf8) {
            let names = text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            classNames = names.count == classes ? names : nil
        }
        return try read([file], labelBytes: 2, labelIndex: label == .coarse ? 0 : 1, classes: classes, classNames: classNames)
    }

    /// Reads the records of `files` in order. Each record is `labelBytes` label bytes (the
    /// label used is byte `labelIndex`) and ``imageBytes`` image bytes.
    public static func read(_ files: [String], labelBytes: Int, labelIndex: Int, classes: Int, classNames: [String]?) throws -> InMemoryDataset {
        let recordSize = labelBytes + imageBytes
        // Check every file before reading any, so a missing last batch fails at once.
        var total = 0
        for file in files {
            let size = try FileBytes.size(file)
            guard size % recordSize == 0 else {
                throw DatasetError(file: file, problem: .sizeNotMultipleOfRecord(size: size, recordSize: recordSize))
            }
            total += size / recordSize
        }
        var pixels: [UInt8] = []
        pixels.reserveCapacity(total * imageBytes)
        var labels: [Int] = []
        labels.reserveCapacity(total)
        for file in files {
            let data = try FileBytes.readRaw(file)
            guard data.count % recordSize == 0 else {
                throw DatasetError(file: file, problem: .sizeNotMultipleOfRecord(size: data.count, recordSize: recordSize))
            }
            try data.withUnsafeBytes { (source: UnsafeRawBufferPointer) in
                for record in 0..<(data.count / recordSize) {
                    let start = record * recordSize
                    let label = Int(source[start + labelIndex])
                    guard label < classes else {
                        throw DatasetError(file: file, problem: .labelOutOfRange(index: record, label: label, classes: classes))
                    }
                    pixels.append(contentsOf: source[(start + labelBytes)..<(start + recordSize)])
                    labels.append(label)
                }
            }
        }
        return InMemoryDataset(sampleShape: [3, 32, 32], classes: classes, classNames: classNames, pixels: pixels, labels: labels)
    }

    private static func resolve(_ directory: String, archiveFolder: String) -> String {
        let nested = (directory as NSString).appendingPathComponent(archiveFolder)
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: nested, isDirectory: &isDirectory) && isDirectory.boolValue ? nested : directory
    }
}
