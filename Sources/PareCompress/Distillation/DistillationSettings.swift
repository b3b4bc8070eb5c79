/// How a student learns from a teacher: the logit loss's weight and temperature, and the
/// feature hints (FitNets) with their weight. The defaults are the seed's (α = 0.5, T = 20).
public struct DistillationSettings: Codable, Equatable, Hashable, Sendable {
    /// Weight of the teacher term; `1 − alpha` weighs cross-entropy against the labels.
    public var alpha: Float = 0.5
    /// Softmax temperature of both logit sets in the teacher term.
    public var temperature: Float = 20
    /// Teacher-node → student-node pairs whose outputs are matched through a learned 1×1 adapter.
    public var hints: [FeatureHint] = []
    /// Weight of each hint's mean squared error in the loss.
    public var hintWeight: Float = 1
    /// How the hints' adapters start.
    public var hintInitialisation: HintInitialisation = .kaiming

    public init(alpha: Float = 0.5, temperature: Float = 20, hints: [FeatureHint] = [], hintWeight: Float = 1,
                hintInitialisation: HintInitialisation = .kaiming) {
        self.alpha = alpha
        self.temperature = temperature
        self.hints = hints
        self.hintWeight = hintWeight
        self.hintInitialisation = hintInitialisation
    }

    private enum CodingKeys: String, CodingKey { case alpha, temperature, hints, hintWeight, hintInitialisation }

    /// Decodes settings saved before `hintInitialisation` existed as Kaiming-initialised.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(alpha: try c.decode(Float.self, forKey: .alpha), temperature: try c.decode(Float.self, forKey: .temperature),
                  hints: try c.decode([FeatureHint].self, forKey: .hints), hintWeight: try c.decode(Float.self, forKey: .hintWeight),
                  hintInitialisation: try c.decodeIfPresent(HintInitialisation.self, forKey: .hintInitialisation) ?? .kaiming)
    }

    /// Throws ``DistillationError/invalidSettings(_:)`` naming every unusable setting.
    public func validate() throws {
        var problems: [String] = []
        if !(alpha >= 0 && alpha <= 1) { problems.append("alpha must be in [0, 1], got \(alpha)") }
        if !(temperature > 0) || !temperature.isFinite { problems.append("temperature must be positive, got \(temperature)") }
        if !(hintWeight >= 0) || !hintWeight.isFinite { problems.append("hint weight must not be negative, got \(hintWeight)") }
        let students = hints.map(\.studentNode)
        if Set(students).count != students.count { problems.append("a student node is named by two hints") }
        if !problems.isEmpty { throw DistillationError.invalidSettings(problems) }
    }
}

/// How a hint's 1×1 adapter (student channels → teacher channels) starts.
public enum HintInitialisation: String, Codable, CaseIterable, Hashable, Sendable {
    /// Kaiming normal (fan-out, ReLU gain) from the run's seed, zero bias: FitNets' random regressor.
    case kaiming
    /// The identity, zero bias: the student's map is compared with the teacher's as it is from the
    /// first step. Needs as many student channels as teacher channels, as in a student rewritten
    /// from the teacher (`pare rewrite`), whose maps already approximate the teacher's.
    case identity
}

/// A FitNets hint: the output of `teacherNode` is the target of `studentNode`'s output after
/// a learned 1×1 convolution (the adapter, trained with the student and dropped afterwards).
/// Both outputs must be feature maps of the same height and width.
public struct FeatureHint: Codable, Equatable, Hashable, Sendable, CustomStringConvertible {
    public var teacherNode: String
    public var studentNode: String

    public init(teacherNode: String, studentNode: String) {
        self.teacherNode = teacherNode
        self.studentNode = studentNode
    }

    /// Parses `TEACHER_NODE=STUDENT_NODE`.
    public init(parsing text: String) throws {
        let parts = text.split(separator: "=", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
            throw DistillationError.invalidSettings(["hint '\(text)' is not TEACHER_NODE=STUDENT_NODE"])
        }
        self.init(teacherNode: parts[0], studentNode: parts[1])
    }

    public var description: String { "\(teacherNode)=\(studentNode)" }
}

/// Why a teacher cannot teach a student.
public enum DistillationError: Error, CustomStringConvertible, Equatable {
    case invalidSettings([String])
    /// Teacher and student do not take the same images or give the same classes.
    case mismatch(String)
    /// A hint names a node the model lacks, or nodes whose outputs cannot be matched.
    case invalidHint(hint: String, reason: String)

    public var description: String {
        switch self {
        case let .invalidSettings(problems): return "invalid distillation settings: " + problems.joined(separator: "; ")
        case let .mismatch(reason): return "the teacher cannot teach this student: \(reason)"
        case let .invalidHint(hint, reason): return "hint \(hint): \(reason)"
        }
    }
}
