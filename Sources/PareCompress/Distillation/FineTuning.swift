import Foundation
import PareCore
import PareData
import PareTrain

/// One resumable training of a model in its own run directory, with cross-entropy or, given a
/// teacher, knowledge distillation: what every pruning step, rewrite and teacher of a
/// compression trains with.
public enum FineTuning {
    /// Trains `graph` with `configuration` in `directory` (resuming it when it holds a
    /// `last.safetensors`, else starting afresh there), distilling from `teacher` with its
    /// settings when given. Returns the best epoch's model (hint adapters removed) and the
    /// run's summary.
    public static func run(_ graph: Graph, directory: URL, configuration: TrainingConfiguration, trainingSet: any Dataset,
                           testSet: (any Dataset)?, teacher: (graph: Graph, settings: DistillationSettings)? = nil,
                           onEvent: ((TrainingEvent) -> Void)? = nil) throws -> (graph: Graph, summary: TrainingSummary) {
        let objective: any TrainingObjective
        var trainingGraph = graph
        if let teacher {
            let distillation = try DistillationObjective(teacher: teacher.graph, settings: teacher.settings, threads: configuration.threads)
            trainingGraph = try distillation.trainingGraph(student: graph, seed: configuration.seed)
            objective = distillation
        } else {
            objective = CrossEntropyObjective()
        }
        let trainer: Trainer
        if FileManager.default.fileExists(atPath: RunDirectory(directory).last.path) {
            trainer = try Trainer(resuming: directory, trainingSet: trainingSet, testSet: testSet, configuration: configuration,
                                  objective: objective)
        } else {
            try? FileManager.default.removeItem(at: directory)
            trainer = try Trainer(graph: trainingGraph, trainingSet: trainingSet, testSet: testSet, configuration: configuration,
                                  directory: directory, objective: objective)
        }
        trainer.onEvent = onEvent
        let summary = try trainer.run()
        let best = try TrainingCheckpoint.read(from: RunDirectory(directory).best).graph
        return (try HintAdapters.student(fromTraining: best), summary)
    }
}
