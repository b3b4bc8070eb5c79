import Foundation
import PareTrain

/// What every step of a compression is measured by. Step 0 is the starting model; the ratios
/// compare each step with it at the same batch and threads.
public struct CompressionStep: Codable, Equatable, Sendable {
    /// `original`, `prune 1/2`, `dwpw`, `int8 (minmax)`, ...
    public var name: String
    /// The phase that made it (`start`, `prune`, `rewrite`, `finetune`, `quantize`; a separate
    /// teacher's row: `teacher`).
    public var phase: CompressionPhase
    /// `f32` or `int8`.
    public var precision: String
    public var figures: ModelFigures
    public var validationAccuracy: Double?
    public var testAccuracy: Double?
    /// MACs of the starting model ÷ this step's: the speed-up a MAC count predicts.
    public var macRatio: Double
    /// Latency of the starting model ÷ this step's, both measured here.
    public var measuredSpeedup: Double
    /// The step's model file, relative to the run directory.
    public var file: String
    /// Wall time of the step (training included).
    public var seconds: Double

    public var parameters: Int { figures.parameters }
    /// Validation accuracy if measured, else test.
    public var selectionAccuracy: Double? { validationAccuracy ?? testAccuracy }
}

/// The phases of a compression, in the order they run (``CompressionPipeline/phases`` says
/// which a configuration has).
public enum CompressionPhase: String, Codable, CaseIterable, Sendable {
    case teacher, start, sensitivity, allocate, prune, rewrite, finetune, quantize, export
}

/// One phase's training curve (a teacher's training, a step's fine-tuning).
public struct TrainingCurve: Codable, Equatable, Sendable {
    public var phase: String
    public var epochs: [EpochMetrics]
}

/// A layer's output width in the starting and in the final model (nil: the layer is gone or new).
public struct LayerWidth: Codable, Equatable, Sendable {
    public var name: String
    public var before: Int?
    public var after: Int?
}

/// The saved state of a compression (`state.json`, rewritten atomically after every phase:
/// the commit point of resume).
public struct CompressionState: Codable, Sendable {
    public var configuration: CompressionConfiguration
    /// Phases finished, in order.
    public var finished: [CompressionPhase] = []
    public var steps: [CompressionStep] = []
    /// Whether the teacher is a model of its own (`--teacher FILE`), measured in ``teacher``;
    /// otherwise the starting model is the teacher.
    public var separateTeacher = false
    public var teacher: CompressionStep?
    public var profile: SensitivityProfile?
    public var allocation: RatioAllocation?
    public var curves: [TrainingCurve] = []
    public var widths: [LayerWidth] = []
    /// The model the next phase starts from, relative to the run directory.
    public var current: String?
    /// Wall time of every session of the run, summed.
    public var seconds = 0.0
    /// How the run ended: nil while it runs; "met", or the message it stopped with.
    public var outcome: String?
    public var targetMet: Bool?
    /// The machine the figures were measured on.
    public var machine: [String: String] = [:]
}
