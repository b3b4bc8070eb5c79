/// Why a ``Trainer`` cannot start, resume or go on. (A NaN or infinite loss is
/// ``TrainingError/nonFiniteLoss(step:loss:)``.)
public enum TrainerError: Error, CustomStringConvertible, Equatable {
    /// Settings that cannot be used, one line each.
    case invalidConfiguration([String])
    /// The model does not fit the data (input shape or class count).
    case modelDataMismatch(String)
    /// Training would see no batch, or there is nothing to choose the best checkpoint by.
    case unusableData(String)
    /// A new run was asked for in a directory that already holds one.
    case runExists(directory: String)
    /// `--resume` named a directory without a checkpoint.
    case noCheckpoint(file: String)
    /// A file that is a model but not a training checkpoint, or a damaged one.
    case invalidCheckpoint(file: String, reason: String)
    /// A resumed run asked for other settings or data than the checkpoint's.
    case resumeMismatch(file: String, differences: [String])
    /// A parameter or running statistic became NaN or infinite during `epoch` (1-based);
    /// nothing of that epoch was saved.
    case nonFiniteParameters(epoch: Int, names: [String])

    public var description: String {
        switch self {
        case let .invalidConfiguration(problems):
            return "invalid training configuration: " + problems.joined(separator: "; ")
        case let .modelDataMismatch(reason):
            return "the model does not fit the data: \(reason)"
        case let .unusableData(reason):
            return reason
        case let .runExists(directory):
            return "\(directory) already holds a training run; resume it or choose another directory"
        case let .noCheckpoint(file):
            return "no checkpoint to resume from: \(file) does not exist"
        case let .invalidCheckpoint(file, reason):
            return "\(file) is not a usable training checkpoint: \(reason)"
        case let .resumeMismatch(file, differences):
            return "cannot resume from \(file) with other settings or data (checkpoint vs asked): "
                + differences.joined(separator: "; ")
        case let .nonFiniteParameters(epoch, names):
            let shown = names.prefix(3).joined(separator: ", ") + (names.count > 3 ? ", ..." : "")
            return "parameters became NaN or infinite in epoch \(epoch) (\(shown)); stopped without saving that epoch"
        }
    }
}
