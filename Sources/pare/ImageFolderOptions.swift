import ArgumentParser
import Foundation
import PareData

/// How `folder:DIR` data sets are decoded: the image size and what to do with images that
/// do not decode. Other data sets ignore these options.
struct ImageFolderOptions: ParsableArguments {
    @Option(help: ArgumentHelp("For folder:DIR data: the shorter side is resized to SIZE x 256/224, then the centre SIZE x SIZE is cropped (default: 224).", valueName: "size"))
    var imageSize: Int?
    @Flag(help: "For folder:DIR data: leave out images that do not decode (they are counted and the first listed) instead of stopping.")
    var skipBadImages = false

    func validate() throws {
        if let imageSize, imageSize < 8 { throw ValidationError("--image-size must be at least 8, got \(imageSize)") }
    }

    /// The geometry for `size` (the option, else the value a checkpoint recorded, else 224).
    static func geometry(size: Int) -> ImageFolder.Geometry {
        .resizeAndCenterCrop(resize: Int((Double(size) * 256 / 224).rounded()), crop: size)
    }

    /// Opens `split` of `spec` with `size` and `skip`, printing how many images were left out.
    static func open(_ spec: DatasetSpec, _ split: Split, size: Int, skip: Bool, quiet: Bool) throws -> (any Dataset)? {
        let dataset = try spec.open(split, geometry: geometry(size: size), skipBadImages: skip)
        if let folder = dataset as? ImageFolder, !folder.skippedFiles.isEmpty, !quiet {
            print("skipped \(folder.skippedFiles.count) undecodable image(s) in the \(split.rawValue) set, first: \(folder.skippedFiles[0])")
        }
        return dataset
    }

    /// The training and test sets named by `text` (a ``DatasetSpec``), image folders at `size`,
    /// skipping bad images when `skip`. Throws when there is no training set.
    static func openTrainingAndTest(_ text: String, size: Int, skip: Bool,
                                    quiet: Bool) throws -> (train: any Dataset, test: (any Dataset)?, spec: DatasetSpec) {
        let spec = try DatasetSpec(parsing: text)
        guard let train = try open(spec, .train, size: size, skip: skip, quiet: quiet) else {
            throw CommandError("\(text) has no training set")
        }
        return (train, try open(spec, .test, size: size, skip: skip, quiet: quiet), spec)
    }
}
