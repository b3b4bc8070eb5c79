import PareCore

/// What a zoo model is built with. `nil` means the model's default.
public struct ZooOptions: Sendable, Equatable {
    public var classes: Int?
    /// Per-sample input shape `[C, H, W]`; sets the input channels too.
    public var input: Shape?
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

/// The model zoo: every model Pare can build by name.
public enum Zoo {
    /// Every entry, in the order `pare zoo` lists them.
    public static let entries: [ZooEntry] = [
        ZooEntry(name: "smallcnn", summary: "Fashion-MNIST CNN: conv32-pool-conv64-pool-fc128-fc10",
                 defaultInput: [1, 28, 28], defaultClasses: 10) { options in
            try smallCNN(classes: options.classes ?? 10, seed: options.seed)
        },
        ZooEntry(name: "tiny-residual", summary: "demo net: residual add, grouped conv, channel shuffle, depthwise conv",
                 defaultInput: [3, 32, 32], defaultClasses: 10) { options in
            try tinyResidualNet(input: options.input ?? [3, 32, 32], classes: options.classes ?? 10, seed: options.seed)
        },
    ]

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
}
