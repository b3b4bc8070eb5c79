import Foundation
import PareCore
import PareData
import PareTrain

/// Trains a student against a teacher: the ``DistillationLoss`` of the student's logits
/// against the teacher's on the same (augmented, normalised) batch, plus each feature hint's
/// mean squared error (``hintLoss(adapted:target:weight:)``).
///
/// The teacher runs in inference mode on its own fused ``DNNLExecutor`` (batch norms folded,
/// no dropout) and is never changed. The graph a ``Trainer`` trains with this objective is
/// the student's training form (``HintAdapters/trainingGraph(student:hints:teacherShapes:seed:)``):
/// its first output the logits, then one adapter output per hint.
///
/// ```swift
/// let objective = try DistillationObjective(teacher: teacher, settings: DistillationSettings(alpha: 0.5, temperature: 4),
///                                           threads: 2)
/// let graph = try objective.trainingGraph(student: student, seed: 0)
/// let trainer = try Trainer(graph: graph, trainingSet: train, testSet: test, configuration: c,
///                           directory: url, objective: objective)
/// ```
public final class DistillationObjective: TrainingObjective {
    public let teacher: Graph
    public let settings: DistillationSettings
    public let threads: Int
    /// The teacher with the hints' teacher nodes as extra outputs after the logits.
    private let teacherWithHints: Graph
    private let teacherShapes: [Shape]
    private var executors: [Int: DNNLExecutor] = [:]
    /// Loss terms of the last batch: T²·KL, cross-entropy, and each hint's weighted MSE.
    public private(set) var lastTerms: (distillation: Float, crossEntropy: Float, hints: [Float]) = (0, 0, [])

    public init(teacher: Graph, settings: DistillationSettings, threads: Int) throws {
        try settings.validate()
        guard teacher.inputIndices.count == 1, teacher.outputs.count == 1 else {
            throw DistillationError.mismatch("a teacher has one input and one output; it has \(teacher.inputIndices.count) and \(teacher.outputs.count)")
        }
        self.teacher = teacher
        self.settings = settings
        self.threads = threads
        let shapes = try teacher.inferShapes()
        var editor = try GraphEditor(teacher)
        for index in teacher.nodes.indices { try editor.keep(index) }
        var outputs = [try editor.value(of: teacher.outputs[0])]
        var hintShapes: [Shape] = []
        for hint in settings.hints {
            guard let node = teacher.nodes.firstIndex(where: { $0.name == hint.teacherNode }) else {
                throw DistillationError.invalidHint(hint: "\(hint)", reason: "the teacher has no node '\(hint.teacherNode)'")
            }
            outputs.append(try editor.value(of: node))
            hintShapes.append(shapes[node])
        }
        teacherWithHints = try editor.finish(outputs: outputs)
        teacherShapes = hintShapes
    }

    /// The student's training form: `student` with an adapter output per hint.
    public func trainingGraph(student: Graph, seed: UInt64) throws -> Graph {
        try HintAdapters.trainingGraph(student: student, hints: settings.hints, teacherShapes: teacherShapes, seed: seed,
                                       initialisation: settings.hintInitialisation)
    }

    public var identity: String? {
        struct Identity: Encodable {
            var kind = "distillation"
            var settings: DistillationSettings
            var teacherParameters: Int
            var teacherFingerprint: String
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let value = Identity(settings: settings, teacherParameters: (try? teacher.trainableParameterCount()) ?? 0,
                             teacherFingerprint: Self.fingerprint(teacher))
        return (try? encoder.encode(value)).map { String(decoding: $0, as: UTF8.self) }
    }

    public var extraOutputs: Int { settings.hints.count }

    public func check(graph: Graph, sampleShape: Shape, classes: Int) throws {
        let teacherShapesAll = try teacher.inferShapes()
        let teacherInput = teacherShapesAll[teacher.inputIndices[0]], teacherOutput = teacherShapesAll[teacher.outputs[0]]
        guard teacherInput == sampleShape else {
            throw DistillationError.mismatch("the teacher takes \(teacherInput) images, the data set has \(sampleShape)")
        }
        guard teacherOutput == Shape([classes]) else {
            throw DistillationError.mismatch("the teacher gives \(teacherOutput) outputs per image; the student and the data "
                                             + "have \(classes) classes")
        }
        let shapes = try graph.inferShapes()
        for (k, hint) in settings.hints.enumerated() where graph.outputs.count > k + 1 {
            let adapted = shapes[graph.outputs[k + 1]]
            guard adapted == teacherShapes[k] else {
                throw DistillationError.invalidHint(hint: "\(hint)", reason: "the adapted student map is \(adapted), the teacher's \(teacherShapes[k])")
            }
        }
    }

    public func loss(outputs: [Tensor], batch: Batch, configuration: TrainingConfiguration) throws
        -> (loss: Float, outputGradients: [Tensor]) {
        let targets = try teacherOutputs(batch.images)
        let logits = try DistillationLoss(student: outputs[0], teacher: targets[0], labels: batch.labels,
                                          alpha: settings.alpha, temperature: settings.temperature,
                                          labelSmoothing: configuration.labelSmoothing)
        var loss = logits.loss
        var gradients = [logits.gradient]
        var hintTerms: [Float] = []
        for k in settings.hints.indices {
            let (term, gradient) = try hintLoss(adapted: outputs[k + 1], target: targets[k + 1], weight: settings.hintWeight)
            loss += term
            hintTerms.append(term)
            gradients.append(gradient)
        }
        lastTerms = (logits.distillation, logits.crossEntropy, hintTerms)
        return (loss, gradients)
    }

    /// The teacher's logits, then its hint nodes' outputs, for `images` (`[N] + input shape`).
    public func teacherOutputs(_ images: Tensor) throws -> [Tensor] {
        let batch = images.shape[0]
        let executor: DNNLExecutor
        if let existing = executors[batch] {
            executor = existing
        } else {
            executor = try DNNLExecutor(graph: teacherWithHints, batchSize: batch, mode: .inference,
                                        configuration: ExecutorConfiguration(threads: threads))
            executors[batch] = executor
        }
        return try executor.forward([images])
    }

    /// FNV-1a over the teacher's parameters (names sorted, then bytes): a resumed run checks
    /// that it distils from the same teacher.
    static func fingerprint(_ graph: Graph) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        func mix(_ byte: UInt64) { hash = (hash ^ byte) &* 0x0000_0100_0000_01B3 }
        for name in graph.parameters.keys.sorted() {
            for byte in name.utf8 { mix(UInt64(byte)) }
            let tensor = graph.parameters[name]!
            let raw = UnsafeRawBufferPointer(start: tensor.storage.pointer, count: tensor.byteCount)
            var i = 0
            while i + 8 <= raw.count {
                mix(raw.loadUnaligned(fromByteOffset: i, as: UInt64.self))
                i += 8
            }
            while i < raw.count {
                mix(UInt64(raw[i]))
                i += 1
            }
        }
        return String(hash, radix: 16)
    }
}
