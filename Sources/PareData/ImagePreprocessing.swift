import PareCore

/// How an image file becomes a model input: resized (and cropped), scaled to `[0, 1]`,
/// converted to grey for one-channel models, normalised. torchvision's evaluation transforms
/// (`Resize`, `CenterCrop`, `ToTensor`, `Normalize`), written as a model's metadata under
/// ``metadataKey``:
///
/// ```
/// resize=256 crop=224 mean=0.485,0.456,0.406 std=0.229,0.224,0.225
/// resize=32x32 normalize=cifar10
/// ```
///
/// `resize=S` resizes the shorter side to S, `resize=HxW` to exactly H x W; `crop=C` takes
/// the centre C x C; `normalize=NAME` is a preset of ``Normalize/presets``, `mean=`/`std=`
/// one value per channel (or one for all). Entries are separated by spaces or semicolons.
public struct ImagePreprocessing: Equatable, Sendable, CustomStringConvertible {
    /// The graph metadata key holding a model's preprocessing.
    public static let metadataKey = "preprocess"

    public var geometry: ImageFolder.Geometry
    public var normalize: Normalize

    public init(geometry: ImageFolder.Geometry, normalize: Normalize) {
        self.geometry = geometry
        self.normalize = normalize
    }

    /// The default for a model taking `[C, H, W]` inputs, when its metadata says nothing:
    /// square inputs of 64 pixels or more are read as ImageNet models (shorter side to
    /// `H * 256 / 224`, centre crop, ImageNet mean and std: `resize=256 crop=224` for 224);
    /// smaller inputs are resized to H x W and normalised with CIFAR-10's statistics (3
    /// channels) or Fashion-MNIST's (1 channel).
    public static func standard(for input: Shape) -> ImagePreprocessing {
        let (channels, height, width) = (input[0], input[1], input[2])
        if height == width && height >= 64 {
            return ImagePreprocessing(geometry: .resizeAndCenterCrop(resize: height * 256 / 224, crop: height),
                                      normalize: channels == 1 ? .fashionMNIST : .imagenet)
        }
        return ImagePreprocessing(geometry: .resize(height: height, width: width),
                                  normalize: channels == 1 ? .fashionMNIST : .cifar10)
    }

    /// Parses the metadata form (see the type's description).
    public init(parsing text: String) throws {
        func fail(_ reason: String) -> ImagePreprocessingError { ImagePreprocessingError(text: text, reason: reason) }
        func number(_ s: Substring) throws -> Int {
            guard let v = Int(s), v > 0 else { throw fail("'\(s)' is not a positive integer") }
            return v
        }
        func floats(_ s: Substring) throws -> [Float] {
            let values = s.split(separator: ",").map { Float($0) }
            guard !values.isEmpty, values.allSatisfy({ $0 != nil }) else { throw fail("'\(s)' is not a list of numbers") }
            return values.map { $0! }
        }
        var resize: (Int, Int?)?
        var crop: Int?
        var normalize: Normalize?
        var mean: [Float]?
        var std: [Float]?
        for entry in text.split(whereSeparator: { $0 == " " || $0 == ";" }) {
            let parts = entry.split(separator: "=", maxSplits: 1)
            guard parts.count == 2 else { throw fail("'\(entry)' is not KEY=VALUE") }
            switch parts[0] {
            case "resize":
                let sizes = parts[1].split(separator: "x")
                guard sizes.count == 1 || sizes.count == 2 else { throw fail("resize takes S or HxW") }
                resize = (try number(sizes[0]), sizes.count == 2 ? try number(sizes[1]) : nil)
            case "crop": crop = try number(parts[1])
            case "normalize":
                guard let preset = Normalize.presets[String(parts[1])] else {
                    throw fail("no normalisation preset '\(parts[1])' (presets: \(Normalize.presets.keys.sorted().joined(separator: ", ")))")
                }
                normalize = preset
            case "mean": mean = try floats(parts[1])
            case "std":
                std = try floats(parts[1])
                guard std!.allSatisfy({ $0 > 0 }) else { throw fail("std must be positive") }
            default: throw fail("unknown key '\(parts[0])' (keys: resize, crop, normalize, mean, std)")
            }
        }
        guard let resize else { throw fail("resize is required") }
        if let crop {
            guard resize.1 == nil else { throw fail("crop goes with resize=S (the shorter side), not resize=HxW") }
            geometry = .resizeAndCenterCrop(resize: resize.0, crop: crop)
        } else if let width = resize.1 {
            geometry = .resize(height: resize.0, width: width)
        } else {
            geometry = .resize(height: resize.0, width: resize.0)
        }
        if mean != nil || std != nil {
            guard normalize == nil, let mean, let std, mean.count == std.count else {
                throw fail("give normalize=NAME, or mean= and std= with as many values")
            }
            normalize = Normalize(mean: mean, std: std)
        }
        self.normalize = normalize ?? Normalize(mean: [0], std: [1])
    }

    public var description: String {
        let size: String
        switch geometry {
        case let .resizeAndCenterCrop(resize, crop): size = "resize=\(resize) crop=\(crop)"
        case let .resize(height, width): size = "resize=\(height)x\(width)"
        }
        func list(_ values: [Float]) -> String { values.map { "\($0)" }.joined(separator: ",") }
        return "\(size) mean=\(list(normalize.mean)) std=\(list(normalize.std))"
    }

    /// The model input for `image`: f32 `[channels, H, W]`, grey (PIL's `convert("L")`
    /// weights) when `channels` is 1.
    public func apply(_ image: RGBImage, channels: Int) throws -> Tensor {
        guard channels == 1 || channels == 3 else {
            throw ImagePreprocessingError(text: description, reason: "images feed 1- or 3-channel models, not \(channels)")
        }
        guard normalize.mean.count == 1 || normalize.mean.count == channels else {
            throw ImagePreprocessingError(text: description, reason: "\(normalize.mean.count) channel statistics for \(channels) channels")
        }
        let rgb = ImageFolder.fit(image, geometry)
        let (height, width) = (rgb.shape[1], rgb.shape[2])
        let plane = height * width
        let bytes = rgb.storage.pointer.assumingMemoryBound(to: UInt8.self)
        let scaled = Tensor(zeros: [channels, height, width])
        let values = scaled.floats
        for i in 0..<plane {
            if channels == 1 {
                let grey = (Float(bytes[i]) * 299 + Float(bytes[plane + i]) * 587 + Float(bytes[2 * plane + i]) * 114) / 1000
                values[i] = grey.rounded(.down) / 255
            } else {
                for c in 0..<3 { values[c * plane + i] = Float(bytes[c * plane + i]) / 255 }
            }
        }
        return normalize.apply(scaled)
    }
}

/// A preprocessing description that cannot be parsed or applied.
public struct ImagePreprocessingError: Error, CustomStringConvertible, Equatable {
    public var text: String
    public var reason: String
    public var description: String { "preprocessing '\(text)': \(reason)" }
}
