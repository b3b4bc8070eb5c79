import Foundation
import PareCore

/// The training transforms named by a comma-separated list (the CLI's `--augment`), each
/// name optionally with one value after `=`:
///
/// | name | transform | value (default) |
/// |---|---|---|
/// | `crop` | ``RandomCrop`` to the image's own size | padding (4) |
/// | `flip` | ``HorizontalFlip`` | probability (0.5) |
/// | `rotate` | ``RandomRotation`` | degrees (15) |
/// | `jitter` | ``ColorJitter`` brightness = contrast = saturation, hue 0 | strength (0.2) |
/// | `perspective` | ``RandomPerspective`` with probability 0.5 | distortion scale (0.5) |
/// | `erase` | ``RandomErasing`` with torchvision's scale and ratio | probability (0.5) |
///
/// `none` or an empty list means no augmentation.
public struct AugmentationList: Sendable, Equatable {
    public enum Item: Equatable, Sendable {
        case crop(padding: Int)
        case flip(probability: Float)
        case rotate(degrees: Float)
        case jitter(strength: Float)
        case perspective(distortionScale: Float)
        case erase(probability: Float)
    }

    public static let names = ["crop", "flip", "rotate", "jitter", "perspective", "erase"]

    public var items: [Item]

    public init(_ items: [Item]) {
        self.items = items
    }

    /// Parses `crop,flip,rotate=10,...`. Throws naming the bad entry and listing the names.
    public init(parsing text: String) throws {
        let entries = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        if entries == ["none"] || entries.isEmpty {
            items = []
            return
        }
        items = try entries.map { entry in
            let parts = entry.split(separator: "=", maxSplits: 1).map(String.init)
            let name = parts[0]
            var value: Float?
            if parts.count == 2 {
                guard let number = Float(parts[1]), number >= 0 else { throw AugmentationListError(entry: entry) }
                value = number
            }
            switch name {
            case "crop":
                guard value == nil || value! == value!.rounded() else { throw AugmentationListError(entry: entry) }
                return .crop(padding: Int(value ?? 4))
            case "flip": return .flip(probability: value ?? 0.5)
            case "rotate": return .rotate(degrees: value ?? 15)
            case "jitter": return .jitter(strength: value ?? 0.2)
            case "perspective":
                guard (value ?? 0) <= 1 else { throw AugmentationListError(entry: entry) }
                return .perspective(distortionScale: value ?? 0.5)
            case "erase": return .erase(probability: value ?? 0.5)
            default: throw AugmentationListError(entry: entry)
            }
        }
    }

    /// The training pipeline for images of `sampleShape` (`[C, H, W]`): the augmentations in
    /// list order, then `normalize`, then erasing, which torchvision applies to the
    /// normalised tensor.
    public func pipeline(sampleShape: Shape, normalize: Normalize?) -> Compose {
        let height = sampleShape[1], width = sampleShape[2]
        var before: [any Transform] = []
        var after: [any Transform] = []
        for item in items {
            switch item {
            case let .crop(padding): before.append(RandomCrop(height: height, width: width, padding: padding))
            case let .flip(probability): before.append(HorizontalFlip(probability: probability))
            case let .rotate(degrees): before.append(RandomRotation(degrees: degrees))
            case let .jitter(strength):
                before.append(ColorJitter(brightness: strength, contrast: strength, saturation: strength))
            case let .perspective(scale): before.append(RandomPerspective(distortionScale: scale))
            case let .erase(probability): after.append(RandomErasing(probability: probability))
            }
        }
        return Compose(before + (normalize.map { [$0] } ?? []) + after)
    }
}

/// An `--augment` entry that is not one of ``AugmentationList/names`` (or has a bad value).
public struct AugmentationListError: Error, CustomStringConvertible, Equatable {
    public var entry: String

    public init(entry: String) {
        self.entry = entry
    }

    public var description: String {
        "unknown or malformed augmentation '\(entry)'; accepted: \(AugmentationList.names.joined(separator: ", ")), "
            + "each optionally with =VALUE (e.g. rotate=10), or none"
    }
}
