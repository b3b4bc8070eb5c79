import PareData
import PareTrain

/// The data a command reads for a model file, and how: `--data` or the data the checkpoint was
/// trained on, its image size and bad-image setting, and the normalisation (`--normalize`, else
/// the checkpoint's, else the data set's preset). Shared by `pare eval` and `pare quantize`.
struct CheckpointData {
    var text: String
    var spec: DatasetSpec
    var size: Int
    var skip: Bool
    var normalization: Normalize?

    /// Throws naming `file` when neither `--data` nor the checkpoint names a data set
    /// (`purpose` says what it is needed for).
    init(data: String?, normalize: String?, folderOptions: ImageFolderOptions, checkpoint: TrainingCheckpoint?,
         file: String, purpose: String) throws {
        guard let text = data ?? checkpoint?.configuration.notes["data"] else {
            throw CommandError("\(file) does not name the data it was trained on: give --data \(purpose)")
        }
        self.text = text
        spec = try DatasetSpec(parsing: text)
        let notes = checkpoint?.configuration.notes ?? [:]
        size = folderOptions.imageSize ?? notes["image-size"].flatMap(Int.init) ?? 224
        skip = folderOptions.skipBadImages || notes["skip-bad-images"] == "true"
        if let normalize {
            normalization = try parseNormalization(normalize, spec: spec)
        } else if let checkpoint {
            normalization = checkpoint.configuration.normalization
        } else {
            normalization = spec.defaultNormalization
        }
    }

    var transforms: [any Transform] { normalization.map { [$0] } ?? [] }

    /// The split, or a command error when the data set has none.
    func open(_ split: Split, quiet: Bool) throws -> any Dataset {
        guard let dataset = try ImageFolderOptions.open(spec, split, size: size, skip: skip, quiet: quiet) else {
            throw CommandError("\(text) has no \(split.rawValue) set")
        }
        return dataset
    }
}
