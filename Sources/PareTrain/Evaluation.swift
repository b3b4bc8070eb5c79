import PareCore
import PareData

/// A model's loss, top-1 and top-5 accuracy and confusion matrix on a data set.
public struct EvaluationResult: Codable, Equatable, Sendable {
    public var samples: Int
    /// Mean cross-entropy.
    public var loss: Double
    /// Fractions in [0, 1]. A sample counts as top-k when fewer than k classes score above
    /// its label (a tie goes to the lower class index, as for the top-1 arg-max).
    public var top1: Double
    public var top5: Double
    /// `confusion[label][predicted]`: how many samples of class `label` were predicted as
    /// class `predicted` (top-1).
    public var confusion: [[Int]]
    public var classNames: [String]?

    public var score: EvaluationScore { EvaluationScore(loss: loss, accuracy: top1) }
}

/// Runs a graph in inference mode over data sets, batch by batch.
///
/// Executors are made per batch size and kept: one for full batches and one for the last,
/// smaller batch. Each ``evaluate(_:transforms:)`` first re-reads the graph's parameters,
/// so it sees the current weights of a graph that is being trained. With a
/// ``FakeQuantization`` the graph runs fake-quantised at its current ranges (a
/// quantisation-aware run's validation).
public final class Evaluator {
    public let graph: Graph
    public let batchSize: Int
    public let threads: Int
    public let fakeQuantization: FakeQuantization?
    private var executors: [Int: DNNLExecutor] = [:]

    public init(graph: Graph, batchSize: Int, threads: Int, fakeQuantization: FakeQuantization? = nil) {
        precondition(batchSize > 0 && threads > 0, "Evaluator needs a positive batch size and thread count")
        self.graph = graph
        self.fakeQuantization = fakeQuantization
        self.batchSize = batchSize
        self.threads = threads
    }

    /// Evaluates `dataset` in order, each image passed through `transforms` (normalisation;
    /// no augmentation). `progress` gets (samples done, samples in all) after each batch.
    public func evaluate(_ dataset: any Dataset, transforms: [any Transform],
                         progress: ((Int, Int) -> Void)? = nil) throws -> EvaluationResult {
        for executor in executors.values { try executor.reloadParameters() }
        let classes = dataset.classes
        var confusion = [[Int]](repeating: [Int](repeating: 0, count: classes), count: classes)
        var lossSum = 0.0, top5 = 0, samples = 0
        let batches = DataLoader(dataset, batchSize: batchSize, shuffle: false, transforms: transforms).epoch(0)
        while let batch = try batches.next() {
            let logits = try executor(batch: batch.count).forward([batch.images])[0]
            guard logits.shape.rank == 2, logits.shape[1] == classes else {
                throw TrainerError.modelDataMismatch("the model gives \(logits.shape) logits for \(classes) classes")
            }
            lossSum += Double(try softmaxCrossEntropy(logits: logits, labels: batch.labels).loss) * Double(batch.count)
            let values = logits.floats
            for (n, label) in batch.labels.enumerated() {
                let row = n * classes
                var predicted = 0
                var rank = 0  // classes ranked above the label
                for c in 0..<classes {
                    if values[row + c] > values[row + predicted] { predicted = c }
                    if values[row + c] > values[row + label] || (values[row + c] == values[row + label] && c < label) { rank += 1 }
                }
                confusion[label][predicted] += 1
                if rank < 5 { top5 += 1 }
            }
            samples += batch.count
            progress?(samples, dataset.count)
        }
        let correct = (0..<classes).reduce(0) { $0 + confusion[$1][$1] }
        let count = Double(max(samples, 1))
        return EvaluationResult(samples: samples, loss: lossSum / count, top1: Double(correct) / count,
                                top5: Double(top5) / count, confusion: confusion, classNames: dataset.classNames)
    }

    private func executor(batch: Int) throws -> DNNLExecutor {
        if let existing = executors[batch] { return existing }
        let created = try DNNLExecutor(graph: graph, batchSize: batch, mode: .inference,
                                       configuration: ExecutorConfiguration(threads: threads), fakeQuantization: fakeQuantization)
        executors[batch] = created
        return created
    }
}
