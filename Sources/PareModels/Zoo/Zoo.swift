import PareCore

/// What a zoo model is built with. `nil` means the model's default.
public struct ZooOptions: Sendable, Equatable {
    public var classes: Int?
    /// Per-sample input shape `[C, H, W]`; sets the input channels too.
    public var input: Shape?
    /// Channel width multiplier, for the models whose original has one (`mobilenet_v2`,
    /// `mobilenet_v2-cifar`, `mobilenet_v3_large`, `mobilenet_v3_small`, `smallcnn`); every
    /// other model accepts only `nil` or 1.
    public var widthMultiplier: Double?
    /// Seed of the initial weights.
    public var seed: UInt64
    /// Skip creating parameters (for structure-only passes such as counting on huge models).
    public var withParameters: Bool

    public init(classes: Int? = nil, input: Shape? = nil, widthMultiplier: Double? = nil, seed: UInt64 = 0,
                withParameters: Bool = true) {
        self.classes = classes
        self.input = input
        self.widthMultiplier = widthMultiplier
        self.seed = seed
        self.withParameters = withParameters
    }
}

/// One named model of the zoo.
public struct ZooEntry: Sendable {
    public var name: String
    public var summary: String
    public var defaultInput: Shape
    public var defaultClasses: Int
    /// Builds the graph; options left `nil` take the defaults above.
    public var build: @Sendable (ZooOptions) throws -> Graph

    public init(name: String, summary: String, defaultInput: Shape, defaultClasses: Int,
                build: @escaping @Sendable (ZooOptions) throws -> Graph) {
        self.name = name
        self.summary = summary
        self.defaultInput = defaultInput
        self.defaultClasses = defaultClasses
        self.build = build
    }
}

/// A name of no zoo model.
public struct UnknownModelError: Error, CustomStringConvertible {
    public var name: String
    public var known: [String]
    public var description: String {
        "unknown model '\(name)'; the zoo has: \(known.joined(separator: ", "))"
    }
}

/// Options a zoo model cannot be built with (a width multiplier it has no use for, an input
/// too small for its pooling), naming the model.
public struct ZooOptionError: Error, CustomStringConvertible, Equatable {
    public var model: String
    public var reason: String

    public init(model: String, reason: String) {
        self.model = model
        self.reason = reason
    }

    public var description: String { "model '\(model)': \(reason)" }
}

/// Which form of a model family to build.
public enum ModelForm: String, Sendable, CaseIterable {
    /// The original, for 224x224 ImageNet images.
    case imageNet
    /// The family's usual adaptation to 32x32 CIFAR images (each family's builder says what
    /// changes).
    case cifar
}

/// The model zoo: every model Pare can build by name.
public enum Zoo {
    /// Every entry, in the order `pare zoo` lists them.
    public static let entries: [ZooEntry] = resNetEntries + cifarResNetEntries + vggEntries + mobileNetV2Entries
        + mobileNetV3Entries + efficientNetEntries + shuffleNetV2Entries + seedEntries

    public static var names: [String] { entries.map(\.name) }

    public static func entry(_ name: String) throws -> ZooEntry {
        guard let entry = entries.first(where: { $0.name == name.lowercased() }) else {
            throw UnknownModelError(name: name, known: names)
        }
        return entry
    }

    /// Builds model `name` with `options`.
    public static func build(_ name: String, options: ZooOptions = ZooOptions()) throws -> Graph {
        try entry(name).build(options)
    }

    private static let resNetEntries: [ZooEntry] = [18, 34, 50, 101, 152].map { depth in
        .model("resnet\(depth)", "torchvision ResNet-\(depth): 7x7/2 stem conv, 3x3/2 max pool, 4 stages",
               input: [3, 224, 224], classes: 1000) { o in
            try resnet(depth: depth, form: .imageNet, input: o.input, classes: o.classes, seed: o.seed,
                       withParameters: o.withParameters)
        }
    } + [18, 34, 50, 101, 152].map { depth in
        .model("resnet\(depth)-cifar", "ResNet-\(depth) for CIFAR: 3x3/1 stem conv, no max pool, torchvision names",
               input: [3, 32, 32], classes: 10) { o in
            try resnet(depth: depth, form: .cifar, input: o.input, classes: o.classes, seed: o.seed,
                       withParameters: o.withParameters)
        }
    }

    private static let cifarResNetEntries: [ZooEntry] = [20, 32, 44, 56, 110].map { depth in
        .model("resnet\(depth)", "He et al. CIFAR ResNet-\(depth): 16/32/64 channels, \((depth - 2) / 6) basic blocks "
                   + "per stage, 1x1 conv shortcuts (option B)",
               input: [3, 32, 32], classes: 10) { o in
            try cifarResNet(depth: depth, input: o.input, classes: o.classes, seed: o.seed,
                            withParameters: o.withParameters)
        }
    }

    private static let vggEntries: [ZooEntry] = [11, 13, 16, 19].map { depth in
        .model("vgg\(depth)", "torchvision vgg\(depth)_bn: VGG-\(depth) with batch norm, 4096-4096 classifier",
               input: [3, 224, 224], classes: 1000) { o in
            try vgg(depth: depth, form: .imageNet, input: o.input, classes: o.classes, seed: o.seed,
                    withParameters: o.withParameters)
        }
    } + [11, 13, 16, 19].map { depth in
        .model("vgg\(depth)-cifar", "Network Slimming's CIFAR VGG-\(depth) with batch norm: 2x2 average pool, "
                   + "one linear",
               input: [3, 32, 32], classes: 10) { o in
            try vgg(depth: depth, form: .cifar, input: o.input, classes: o.classes, seed: o.seed,
                    withParameters: o.withParameters)
        }
    }

    private static let mobileNetV2Entries: [ZooEntry] = [
        .model("mobilenet_v2", "torchvision MobileNetV2: inverted residuals, width multiplier",
               input: [3, 224, 224], classes: 1000, hasWidthMultiplier: true) { o in
            try mobileNetV2(form: .imageNet, widthMultiplier: o.widthMultiplier, input: o.input, classes: o.classes,
                            seed: o.seed, withParameters: o.withParameters)
        },
        .model("mobilenet_v2-cifar", "MobileNetV2 for CIFAR: stride 1 in the stem conv and the 24-channel stage",
               input: [3, 32, 32], classes: 10, hasWidthMultiplier: true) { o in
            try mobileNetV2(form: .cifar, widthMultiplier: o.widthMultiplier, input: o.input, classes: o.classes,
                            seed: o.seed, withParameters: o.withParameters)
        },
    ]

    private static let mobileNetV3Entries: [ZooEntry] = MobileNetV3Size.allCases.reversed().map { size in
        .model("mobilenet_v3_\(size.rawValue)", "torchvision MobileNetV3-\(size == .large ? "Large" : "Small"): "
                   + "inverted residuals with squeeze-and-excitation, hard swish, width multiplier",
               input: [3, 224, 224], classes: 1000, hasWidthMultiplier: true) { o in
            try mobileNetV3(size, widthMultiplier: o.widthMultiplier, input: o.input, classes: o.classes, seed: o.seed,
                            withParameters: o.withParameters)
        }
    }

    private static let efficientNetEntries: [ZooEntry] = [
        .model("efficientnet_b0", "torchvision EfficientNet-B0: MBConv blocks with squeeze-and-excitation, SiLU "
                   + "(no stochastic depth)",
               input: [3, 224, 224], classes: 1000) { o in
            try efficientNet(input: o.input, classes: o.classes, seed: o.seed, withParameters: o.withParameters)
        },
    ]

    private static let shuffleNetV2Entries: [ZooEntry] = ShuffleNetV2Width.allCases.map { width in
        .model("shufflenet_v2_\(width.rawValue)",
               "torchvision ShuffleNetV2 \(width.rawValue): channel split and shuffle, stages "
                   + width.stageChannels.map(String.init).joined(separator: "/"),
               input: [3, 224, 224], classes: 1000) { o in
            try shuffleNetV2(width, input: o.input, classes: o.classes, seed: o.seed, withParameters: o.withParameters)
        }
    }

    private static let seedEntries: [ZooEntry] = [
        .model("resnet18-slim-b1", "seeds/000 slimmed ResNet-18: 3x3 stem, stages 128/256/512 of 1 basic block",
               input: [3, 224, 224], classes: 1000) { o in
            try slimResNet18(blocksPerStage: 1, input: o.input, classes: o.classes, seed: o.seed,
                             withParameters: o.withParameters)
        },
        .model("resnet18-slim-b2", "seeds/000 slimmed ResNet-18: 3x3 stem, stages 128/256/512 of 2 basic blocks",
               input: [3, 224, 224], classes: 1000) { o in
            try slimResNet18(blocksPerStage: 2, input: o.input, classes: o.classes, seed: o.seed,
                             withParameters: o.withParameters)
        },
        .model("studentnet", "seeds/003 StudentNet (Food-11): 3x3 stem conv, 7 depthwise+pointwise blocks",
               input: [3, 128, 128], classes: 11) { o in
            try studentNet(input: o.input, classes: o.classes, seed: o.seed, withParameters: o.withParameters)
        },
        .model("smallcnn", "Fashion-MNIST CNN: conv32-pool-conv64-pool-fc128-fc10, width multiplier",
               input: [1, 28, 28], classes: 10, hasWidthMultiplier: true) { o in
            try smallCNN(input: o.input, classes: o.classes, widthMultiplier: o.widthMultiplier, seed: o.seed,
                         withParameters: o.withParameters)
        },
        .model("tiny-residual", "demo net: residual add, grouped conv, channel shuffle, depthwise conv",
               input: [3, 32, 32], classes: 10) { o in
            try tinyResidualNet(input: o.input, classes: o.classes, seed: o.seed, withParameters: o.withParameters)
        },
    ]
}

/// A zoo entry's options with its defaults applied and checked.
struct ResolvedZooOptions: Sendable {
    var input: Shape
    var classes: Int
    /// 1 for the models without a width multiplier.
    var widthMultiplier: Double
    var seed: UInt64
    var withParameters: Bool
}

extension ZooEntry {
    /// An entry whose builder gets checked options: `classes` positive, `input` a `[C, H, W]`
    /// shape, a width multiplier only where the model has one. A graph the builder cannot
    /// form for the options (an input too small for the model's windows) is reported as a
    /// ``ZooOptionError`` naming the model.
    static func model(_ name: String, _ summary: String, input defaultInput: Shape, classes defaultClasses: Int,
                      hasWidthMultiplier: Bool = false,
                      build: @escaping @Sendable (ResolvedZooOptions) throws -> Graph) -> ZooEntry {
        ZooEntry(name: name, summary: summary, defaultInput: defaultInput, defaultClasses: defaultClasses) { options in
            func fail(_ reason: String) -> ZooOptionError { ZooOptionError(model: name, reason: reason) }
            let input = options.input ?? defaultInput
            let classes = options.classes ?? defaultClasses
            guard classes > 0 else { throw fail("classes must be positive, got \(classes)") }
            guard input.rank == 3, input.dimensions.allSatisfy({ $0 > 0 }) else {
                throw fail("input must be [channels, height, width] with positive sizes, got [\(input)]")
            }
            let widthMultiplier = options.widthMultiplier ?? 1
            if hasWidthMultiplier {
                guard widthMultiplier.isFinite, widthMultiplier > 0 else {
                    throw fail("width multiplier must be positive, got \(widthMultiplier)")
                }
            } else if widthMultiplier != 1 {
                throw fail("has no width multiplier (got \(widthMultiplier)); the models with one: "
                           + "mobilenet_v2, mobilenet_v2-cifar, mobilenet_v3_large, mobilenet_v3_small, smallcnn")
            }
            let resolved = ResolvedZooOptions(input: input, classes: classes, widthMultiplier: widthMultiplier,
                                              seed: options.seed, withParameters: options.withParameters)
            do {
                return try build(resolved)
            } catch let error as GraphError {
                throw fail("cannot be built for input \(input) with \(classes) classes: \(error)")
            }
        }
    }
}

extension GraphBuilder {
    /// Finishes a zoo model whose output is `logits`: with every parameter created as
    /// torchvision initialises it (from `seed`), or, when `withParameters` is false, the
    /// structure only (fast, for counting or loading trained weights). The graph's metadata
    /// names the model.
    func finishModel(_ logits: Value, model: String, seed: UInt64, withParameters: Bool) throws -> Graph {
        let metadata = ["model": model]
        return withParameters
            ? try build(outputs: [logits], seed: seed, metadata: metadata)
            : try buildWithoutParameters(outputs: [logits], metadata: metadata)
    }
}
