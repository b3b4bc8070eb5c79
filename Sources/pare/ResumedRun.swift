import Foundation
import PareData
import PareTrain

/// What `--resume DIR` finds for `pare train` and `pare distill`: the saved state of the run
/// in DIR and its data, opened again as the run's notes say (data set, image size, whether
/// bad images are skipped) unless the command line gives them.
struct ResumedRun {
    var directory: URL
    var saved: TrainingCheckpoint
    var dataText: String
    var train: any Dataset
    var test: (any Dataset)?
    var spec: DatasetSpec

    var notes: [String: String] { saved.configuration.notes }

    init(_ path: String, data: String?, folderOptions: ImageFolderOptions, quiet: Bool) throws {
        directory = URL(fileURLWithPath: path)
        let last = RunDirectory(directory).last
        guard FileManager.default.fileExists(atPath: last.path) else {
            throw CommandError("no checkpoint to resume from: \(last.path) does not exist")
        }
        guard let checkpoint = try TrainingCheckpoint.read(from: last).checkpoint else {
            throw CommandError("\(last.path) holds a model but no training state")
        }
        saved = checkpoint
        let notes = checkpoint.configuration.notes
        guard let text = data ?? notes["data"] else { throw CommandError("the checkpoint does not name its data: give --data") }
        dataText = text
        let size = folderOptions.imageSize ?? notes["image-size"].flatMap(Int.init) ?? 224
        let skip = folderOptions.skipBadImages || notes["skip-bad-images"] == "true"
        (train, test, spec) = try ImageFolderOptions.openTrainingAndTest(text, size: size, skip: skip, quiet: quiet)
    }
}
