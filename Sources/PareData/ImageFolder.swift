import Foundation
import PareCore

/// An image-folder dataset (torchvision's `ImageFolder` layout): one sub-folder per class,
/// class names (and so labels) in sorted order, PNG and JPEG files inside.
///
/// Only file paths are kept in memory; each ``sample(at:)`` decodes its file, converts it to
/// RGB and resizes it to ``geometry`` (`u8`, `[3, H, W]`). Hidden files (`.name`) are
/// ignored; other files without a `.png`, `.jpg` or `.jpeg` extension are listed in
/// ``ignoredFiles``. A file that does not decode throws an error naming it, unless
/// `skipBadImages` was given: then every image is decoded once when the folder is opened
/// and the bad ones are left out and listed in ``skippedFiles``.
public struct ImageFolder: Dataset {
    /// How decoded images are brought to one size.
    public enum Geometry: Sendable, Equatable {
        /// The shorter side resized to `resize` (aspect ratio kept, the longer side
        /// truncated as torchvision computes it), then the centre `crop` x `crop`
        /// (e.g. resize 256, crop 224).
        case resizeAndCenterCrop(resize: Int, crop: Int)
        /// Resized to exactly `height` x `width`.
        case resize(height: Int, width: Int)

        public var outputHeight: Int {
            switch self {
            case let .resizeAndCenterCrop(_, crop): return crop
            case let .resize(height, _): return height
            }
        }

        public var outputWidth: Int {
            switch self {
            case let .resizeAndCenterCrop(_, crop): return crop
            case let .resize(_, width): return width
            }
        }
    }

    public static let imageExtensions: Set<String> = ["png", "jpg", "jpeg"]

    public let root: String
    public let geometry: Geometry
    public let classNames: [String]?
    /// Image paths and their labels, class by class, files sorted by name.
    public let files: [(path: String, label: Int)]
    /// Files in class folders that are not images by their extension.
    public let ignoredFiles: [String]
    /// Images left out because they did not decode (only with `skipBadImages`), with why.
    public let skippedFiles: [DatasetError]

    public var classes: Int { classNames!.count }
    public var count: Int { files.count }
    public var sampleShape: Shape { [3, geometry.outputHeight, geometry.outputWidth] }

    /// Lists the class folders under `root`. Throws when `root` is missing or has no class
    /// folders, or a class folder has no images (naming it).
    public init(root: String, geometry: Geometry, skipBadImages: Bool = false) throws {
        let manager = FileManager.default
        var isDirectory: ObjCBool = false
        guard manager.fileExists(atPath: root, isDirectory: &isDirectory) else {
            throw DatasetError(file: root, problem: .fileMissing(tried: [root]))
        }
        guard isDirectory.boolValue else { throw DatasetError(file: root, problem: .notADirectory) }
        func entries(_ folder: String) throws -> [String] {
            do {
                return try manager.contentsOfDirectory(atPath: folder).filter { !$0.hasPrefix(".") }.sorted()
            } catch {
                throw DatasetError(file: folder, problem: .unreadable(reason: error.localizedDescription))
            }
        }
        let classFolders = try entries(root).filter { name in
            var isFolder: ObjCBool = false
            return manager.fileExists(atPath: (root as NSString).appendingPathComponent(name), isDirectory: &isFolder) && isFolder.boolValue
        }
        guard !classFolders.isEmpty else { throw DatasetError(file: root, problem: .noClassFolders) }
        var files: [(path: String, label: Int)] = []
        var ignored: [String] = []
        for (label, name) in classFolders.enumerated() {
            let folder = (root as NSString).appendingPathComponent(name)
            var found = 0
            for entry in try entries(folder) {
                let path = (folder as NSString).appendingPathComponent(entry)
                if Self.imageExtensions.contains((entry as NSString).pathExtension.lowercased()) {
                    files.append((path, label))
                    found += 1
                } else {
                    ignored.append(path)
                }
            }
            guard found > 0 else { throw DatasetError(file: folder, problem: .emptyClassFolder) }
        }
        self.root = root
        self.geometry = geometry
        self.classNames = classFolders
        self.ignoredFiles = ignored
        if skipBadImages {
            let (good, bad) = Self.checkDecoding(files)
            self.files = good
            self.skippedFiles = bad
        } else {
            self.files = files
            self.skippedFiles = []
        }
    }

    public func label(at index: Int) -> Int { files[index].label }

    /// Decodes, converts to RGB and resizes the sample's file.
    public func sample(at index: Int) throws -> Sample {
        let (path, label) = files[index]
        return Sample(image: Self.fit(try ImageDecoder.decode(file: path), geometry), label: label)
    }

    /// An RGB image brought to `geometry`, as a `u8` `[3, H, W]` tensor (values rounded).
    public static func fit(_ image: RGBImage, _ geometry: Geometry) -> Tensor {
        let planar = Tensor(zeros: [3, image.height, image.width])
        let values = planar.floats
        let plane = image.height * image.width
        for pixel in 0..<plane {
            for c in 0..<3 { values[c * plane + pixel] = Float(image.pixels[3 * pixel + c]) }
        }
        let fitted: Tensor
        switch geometry {
        case let .resizeAndCenterCrop(resize, crop):
            let (height, width) = shorterSide(height: image.height, width: image.width, to: resize)
            let resized = (height, width) == (image.height, image.width)
                ? planar : ImageResampling.resize(planar, height: height, width: width)
            fitted = ImageResampling.centerCrop(resized, height: crop, width: crop)
        case let .resize(height, width):
            fitted = (height, width) == (image.height, image.width)
                ? planar : ImageResampling.resize(planar, height: height, width: width)
        }
        let result = Tensor(zeros: fitted.shape, dtype: .u8)
        let bytes = result.storage.pointer.assumingMemoryBound(to: UInt8.self)
        for (i, value) in fitted.floats.enumerated() { bytes[i] = UInt8(min(255, max(0, value.rounded()))) }
        return result
    }

    /// torchvision's `Resize(size)` for one int: the shorter side becomes `size`, the longer
    /// `int(size * long / short)`.
    static func shorterSide(height: Int, width: Int, to size: Int) -> (height: Int, width: Int) {
        height <= width ? (size, size * width / height) : (size * height / width, size)
    }

    /// Decodes every file once (on all cores) and splits them into good ones and errors.
    private static func checkDecoding(_ files: [(path: String, label: Int)]) -> ([(path: String, label: Int)], [DatasetError]) {
        let results = ResultSlots<DatasetError?>(count: files.count)
        DispatchQueue.concurrentPerform(iterations: files.count) { index in
            do {
                _ = try ImageDecoder.decode(file: files[index].path)
                results.set(index, nil)
            } catch let error as DatasetError {
                results.set(index, error)
            } catch {
                results.set(index, DatasetError(file: files[index].path, problem: .undecodableImage(reason: "\(error)")))
            }
        }
        var good: [(path: String, label: Int)] = []
        var bad: [DatasetError] = []
        for (index, file) in files.enumerated() {
            if let error = results.value(index) ?? nil { bad.append(error) } else { good.append(file) }
        }
        return (good, bad)
    }
}

/// Fixed slots written once each from concurrent tasks.
final class ResultSlots<Value>: @unchecked Sendable {
    private var values: [Value?]
    private let lock = NSLock()

    init(count: Int) { values = Array(repeating: nil, count: count) }

    func set(_ index: Int, _ value: Value) {
        lock.lock()
        values[index] = value
        lock.unlock()
    }

    func value(_ index: Int) -> Value? {
        lock.lock()
        defer { lock.unlock() }
        return values[index]
    }
}
