import Foundation
import PareCore
import PareIO

/// Where a run keeps its files: `last.safetensors` (the checkpoint to resume from),
/// `best.safetensors` (best by the selection score), `metrics.csv` and `summary.json`.
public struct RunDirectory: Sendable {
    public let url: URL

    public init(_ url: URL) {
        self.url = url
    }

    public var last: URL { url.appendingPathComponent("last.safetensors") }
    public var best: URL { url.appendingPathComponent("best.safetensors") }
    public var metrics: URL { url.appendingPathComponent("metrics.csv") }
    public var summary: URL { url.appendingPathComponent("summary.json") }

    /// Deletes the temporary files of atomic writes that a killed process left behind
    /// (`.NAME.UUID.tmp`); the files they were replacing are intact.
    func removeInterruptedWrites() throws {
        try PareIO.removeInterruptedWrites(in: url)
    }
}

/// The state of a run at the end of an epoch, saved in the checkpoint's metadata under
/// ``metadataKey`` beside the model (``ModelFile``'s format) and the optimizer's state
/// (tensors named `optimizer/` + the optimizer's own names).
///
/// Nothing else is needed to resume exactly: the data order, augmentation and dropout of
/// epoch `e` are drawn from (`seed`, `e`) alone, never from a generator carried across epochs.
public struct TrainingCheckpoint: Codable, Equatable, Sendable {
    public static let metadataKey = "pare.checkpoint"

    public var completedEpochs: Int
    /// Optimizer steps taken.
    public var steps: Int
    public var configuration: TrainingConfiguration
    /// Sizes of the training set (after the validation split) and of the selection set,
    /// checked on resume.
    public var trainingSamples: Int
    public var selectionSamples: Int
    public var bestEpoch: Int?
    public var bestAccuracy: Double?
    public var history: [EpochMetrics]
    /// The run's ``TrainingObjective/identity`` (nil: cross-entropy).
    public var objective: String?

    /// The checkpoint file: `graph` as a model file plus `optimizerState` and this state.
    public func file(graph: Graph, optimizerState: [String: Tensor]) throws -> SafetensorsFile {
        var file = try ModelFile.encode(graph)
        for (name, tensor) in optimizerState { file.tensors[ModelFile.trainingStatePrefix + name] = tensor }
        file.metadata[Self.metadataKey] = String(decoding: try Self.encoder(pretty: false).encode(self), as: UTF8.self)
        return file
    }

    /// Reads a model or checkpoint file: the graph, the run's state (nil for a plain model
    /// file) and the optimizer's state tensors (empty in a plain model or a `best` file).
    public static func read(from url: URL) throws -> (graph: Graph, checkpoint: TrainingCheckpoint?, optimizerState: [String: Tensor]) {
        let file = try SafetensorsFile.read(from: url)
        let graph = try ModelFile.decode(file, source: url.path)
        var optimizerState: [String: Tensor] = [:]
        for (name, tensor) in file.tensors where name.hasPrefix(ModelFile.trainingStatePrefix) {
            optimizerState[String(name.dropFirst(ModelFile.trainingStatePrefix.count))] = tensor
        }
        guard let json = file.metadata[metadataKey] else { return (graph, nil, optimizerState) }
        do {
            return (graph, try decoder.decode(TrainingCheckpoint.self, from: Data(json.utf8)), optimizerState)
        } catch {
            throw TrainerError.invalidCheckpoint(file: url.path, reason: "its \(metadataKey) metadata does not decode (\(error))")
        }
    }

    static func encoder(pretty: Bool) -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = pretty ? [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes] : [.sortedKeys, .withoutEscapingSlashes]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return encoder
    }

    static var decoder: JSONDecoder {
        let decoder = JSONDecoder()
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return decoder
    }
}
