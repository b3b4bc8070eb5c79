import PareCore

/// `(x - mean[c]) / std[c]` for each channel `c` (torchvision's `Normalize`).
public struct Normalize: Transform, Equatable {
    public var mean: [Float]
    public var std: [Float]

    /// One mean and standard deviation per channel, or one of each for all channels.
    public init(mean: [Float], std: [Float]) {
        precondition(mean.count == std.count && !mean.isEmpty, "Normalize needs as many means as standard deviations")
        precondition(std.allSatisfy { $0 > 0 }, "Normalize needs positive standard deviations")
        self.mean = mean
        self.std = std
    }

    public static let fashionMNIST = Normalize(mean: [0.2860], std: [0.3530])
    public static let mnist = Normalize(mean: [0.1307], std: [0.3081])
    public static let cifar10 = Normalize(mean: [0.4914, 0.4822, 0.4465], std: [0.2470, 0.2435, 0.2616])
    public static let cifar100 = Normalize(mean: [0.5071, 0.4865, 0.4409], std: [0.2673, 0.2564, 0.2762])
    public static let imagenet = Normalize(mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225])

    /// The presets by name.
    public static let presets: [String: Normalize] = [
        "fashion-mnist": .fashionMNIST, "mnist": .mnist, "cifar10": .cifar10, "cifar100": .cifar100, "imagenet": .imagenet,
    ]

    public func callAsFunction(_ image: Tensor, generator: inout SeededGenerator) -> Tensor {
        apply(image)
    }

    public func apply(_ image: Tensor) -> Tensor {
        let (channels, height, width) = ImageResampling.dimensions(image)
        precondition(mean.count == channels || mean.count == 1,
                     "Normalize has \(mean.count) channel statistics for a \(channels)-channel image")
        let plane = height * width
        let source = image.floats
        let result = Tensor(zeros: image.shape)
        let destination = result.floats
        for c in 0..<channels {
            let m = mean[mean.count == 1 ? 0 : c], s = std[std.count == 1 ? 0 : c]
            for i in (c * plane)..<((c + 1) * plane) { destination[i] = (source[i] - m) / s }
        }
        return result
    }
}

extension DatasetSpec {
    /// The usual normalisation for this dataset (ImageNet's for image folders).
    public var defaultNormalization: Normalize {
        switch self {
        case .fashionMNIST: return .fashionMNIST
        case .mnist: return .mnist
        case .cifar10: return .cifar10
        case .cifar100: return .cifar100
        case .folder: return .imagenet
        }
    }
}
