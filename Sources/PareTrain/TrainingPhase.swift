/// A later phase of a run that changes optimizer after the first (the seed's recipe: AdamW
/// for a while, then SGD at a small rate). Phase 0 is the ``TrainingConfiguration`` itself;
/// each later phase runs its own epochs with a fresh optimizer of its kind and its own
/// schedule, counted from the phase's first step. Everything else (batch, data,
/// augmentation, loss) stays as the configuration says.
///
/// Text form: `KIND:epochs=E[,lr=R][,wd=W][,momentum=M][,schedule=S]`, for example
/// `sgd:epochs=50,lr=1e-3` or `sgd:epochs=5,lr=0.01,schedule=step:2,gamma=0.1` (everything after
/// `schedule=` is the schedule). Left out: the kind's usual learning rate and weight decay
/// (sgd 0.05 and 5e-4, adam 1e-3 and 0, adamw 1e-3 and 1e-2), momentum 0.9, schedule cosine.
public struct TrainingPhase: Codable, Equatable, Hashable, Sendable, CustomStringConvertible {
    public var optimizer: OptimizerKind
    public var epochs: Int
    public var learningRate: Float
    public var weightDecay: Float
    public var momentum: Float
    public var schedule: String

    public init(optimizer: OptimizerKind, epochs: Int, learningRate: Float? = nil, weightDecay: Float? = nil,
                momentum: Float = 0.9, schedule: String = "cosine") {
        self.optimizer = optimizer
        self.epochs = epochs
        self.learningRate = learningRate ?? (optimizer == .sgd ? 0.05 : 1e-3)
        self.weightDecay = weightDecay ?? (optimizer == .sgd ? 5e-4 : optimizer == .adam ? 0 : 1e-2)
        self.momentum = momentum
        self.schedule = schedule
    }

    public static let syntax = "KIND:epochs=E[,lr=R][,wd=W][,momentum=M][,schedule=S] with KIND one of "
        + OptimizerKind.allCases.map(\.rawValue).joined(separator: ", ")

    /// Parses the text form; throws ``TrainerError/invalidConfiguration(_:)`` naming the problem.
    public init(parsing text: String) throws {
        func fail(_ reason: String) -> TrainerError {
            .invalidConfiguration(["phase '\(text)': \(reason); expected \(Self.syntax)"])
        }
        let parts = text.split(separator: ":", maxSplits: 1).map(String.init)
        guard let kindText = parts.first, let kind = OptimizerKind(rawValue: kindText.lowercased()) else {
            throw fail("unknown optimizer")
        }
        var epochs: Int?, learningRate: Float?, weightDecay: Float?, momentum: Float = 0.9, schedule = "cosine"
        var rest = parts.count > 1 ? parts[1] : ""
        if let range = rest.range(of: "schedule=") {
            schedule = String(rest[range.upperBound...])
            rest = String(rest[..<range.lowerBound])
            if rest.hasSuffix(",") { rest.removeLast() }
        }
        for item in rest.split(separator: ",") {
            let pair = item.split(separator: "=", maxSplits: 1).map(String.init)
            guard pair.count == 2 else { throw fail("'\(item)' is not NAME=VALUE") }
            switch pair[0] {
            case "epochs":
                guard let value = Int(pair[1]) else { throw fail("epochs '\(pair[1])' is not an integer") }
                epochs = value
            case "lr", "wd", "momentum":
                guard let value = Float(pair[1]) else { throw fail("\(pair[0]) '\(pair[1])' is not a number") }
                if pair[0] == "lr" { learningRate = value } else if pair[0] == "wd" { weightDecay = value } else { momentum = value }
            default:
                throw fail("unknown setting '\(pair[0])'")
            }
        }
        guard let epochs else { throw fail("give epochs=E") }
        self.init(optimizer: kind, epochs: epochs, learningRate: learningRate, weightDecay: weightDecay,
                  momentum: momentum, schedule: schedule)
    }

    public var description: String {
        "\(optimizer.rawValue):epochs=\(epochs),lr=\(learningRate),wd=\(weightDecay)"
            + (optimizer == .sgd ? ",momentum=\(momentum)" : "") + ",schedule=\(schedule)"
    }
}

extension TrainingConfiguration {
    /// Epochs of all phases together.
    public var totalEpochs: Int { epochs + laterPhases.reduce(0) { $0 + $1.epochs } }

    /// The phase that 0-based `epoch` belongs to (0: the configuration's own, k: `laterPhases[k - 1]`)
    /// and the 0-based epoch it starts at. Epochs past the end belong to the last phase.
    public func phase(ofEpoch epoch: Int) -> (index: Int, firstEpoch: Int) {
        var start = epochs
        if epoch < start { return (0, 0) }
        for (k, phase) in laterPhases.enumerated() {
            if epoch < start + phase.epochs || k == laterPhases.count - 1 { return (k + 1, start) }
            start += phase.epochs
        }
        return (0, 0)
    }

    /// The settings phase `index` trains with: this configuration for 0, otherwise this one
    /// with the phase's optimizer, rate, weight decay, momentum, schedule and epochs (no warm-up).
    public func phaseSettings(_ index: Int) -> TrainingConfiguration {
        guard index > 0 else { return self }
        let phase = laterPhases[index - 1]
        var c = self
        c.optimizer = phase.optimizer
        c.epochs = phase.epochs
        c.learningRate = phase.learningRate
        c.weightDecay = phase.weightDecay
        c.momentum = phase.momentum
        c.nesterov = false
        c.schedule = phase.schedule
        c.warmupSteps = 0
        c.laterPhases = []
        return c
    }
}
