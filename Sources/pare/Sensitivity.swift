import ArgumentParser
import Foundation
import PareCompress
import PareCore
import PareData
import PareIO
import PareTrain

extension Pare {
    struct Sensitivity: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "How much accuracy each channel group costs: every group pruned alone at each ratio, no fine-tuning.",
            discussion: """
                For every prunable channel group (`pare prune --show-groups` lists them) and every \
                ratio, the group alone loses that fraction of its channels (the lowest-scoring by \
                --criterion, widths rounded up to --round-to) and the model is evaluated on a fixed \
                subset: the first --samples images of the validation split (--val-fraction of the \
                training set, per class, seeded by --seed). The table gives the accuracy drop in \
                points; --out DIR also gets sensitivity.json and sensitivity.svg (one line per group). \
                `pare compress` allocates its per-group ratios from this profile.

                Examples:
                  pare sensitivity m.safetensors --data fashion-mnist
                  pare sensitivity m.safetensors --data fashion-mnist --criterion fpgm --ratios 0.25,0.5,0.75 --out sens
                """)

        @Argument(help: "Trained .safetensors model file.") var model: String
        @Option(help: "Data set: \(DatasetSpec.acceptedForms.joined(separator: ", ")).") var data: String
        @Option(help: "Importance criterion: \(PruningCriterion.names).") var criterion = "l1"
        @Option(help: "Comma-separated ratios (fractions of each group's channels removed).") var ratios = "0.1,0.3,0.5,0.7,0.9"
        @Option(help: "Validation images to evaluate on.") var samples = 1000
        @Option(help: "Fraction of the training set held out as the validation split.") var valFraction = 0.1
        @Option(help: "Kept widths are multiples of this; 1 for none.") var roundTo = 8
        @Option(help: "Batches the data-driven criteria run on.") var calibrationBatches = 4
        @Option(help: "Threads.") var threads = 2
        @Option(help: "Seed of the validation split (the model's training seed gives the split it was trained beside).")
        var seed: UInt64 = 0
        @Option(help: "Normalisation: a preset, none or default (default: the checkpoint's, else the data set's).") var normalize: String?
        @Option(help: "Directory for sensitivity.json and sensitivity.svg.") var out: String?
        @OptionGroup var folderOptions: ImageFolderOptions
        @Flag(help: "Print the profile as JSON.") var json = false

        func validate() throws {
            guard samples >= 10 else { throw ValidationError("--samples must be at least 10") }
            guard valFraction > 0, valFraction < 1 else { throw ValidationError("--val-fraction must be in (0, 1)") }
            guard threads > 0, calibrationBatches > 0 else { throw ValidationError("--threads and --calibration-batches must be positive") }
        }

        func run() throws {
            let url = URL(fileURLWithPath: model)
            guard FileManager.default.fileExists(atPath: url.path) else {
                throw CommandError("\(model): no such file (sensitivity needs a trained .safetensors model)")
            }
            let (graph, checkpoint, _) = try TrainingCheckpoint.read(from: url)
            let source = try CheckpointData(data: data, normalize: normalize, folderOptions: folderOptions, checkpoint: checkpoint,
                                            file: model, purpose: "for the sensitivity profile")
            let train = try source.open(.train, quiet: json)
            do {
                try Trainer.checkFit(graph, sampleShape: train.sampleShape, classes: train.classes)
            } catch {
                throw CommandError("\(model) does not fit --data \(data): \(error)")
            }
            var settings = SensitivityAnalysis.Settings()
            guard let criterion = PruningCriterion(rawValue: criterion) else {
                throw ValidationError("--criterion '\(self.criterion)': use one of \(PruningCriterion.names)")
            }
            settings.criterion = criterion
            settings.ratios = try parseRatioList(ratios)
            settings.roundTo = roundTo
            settings.threads = threads
            settings.seed = seed
            settings.calibrationBatches = calibrationBatches
            do { try settings.validate() } catch { throw ValidationError("\(error)") }
            let split = ValidationSplit(train, fraction: valFraction, seed: seed, stratified: true)
            let subset = Subset(split.validation, indices: Array(0..<min(samples, split.validation.count)))
            let transforms = source.transforms
            let calibration = criterion.needsData
                ? try CalibrationData.first(calibrationBatches, of: split.train, batchSize: 64, transforms: transforms) : nil
            let terminal = isatty(STDERR_FILENO) != 0 && !json
            let profile = try SensitivityAnalysis.run(graph, evaluation: subset, subset: "validation", transforms: transforms,
                                                      settings: settings, calibration: calibration) { event in
                guard terminal, case let .evaluated(done, total, group, ratio, _) = event else { return }
                FileHandle.standardError.write(Data("\r\u{1B}[K\(done)/\(total): \(group) at \(ratio)".utf8))
            }
            if terminal { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            if let out {
                let directory = URL(fileURLWithPath: out)
                try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
                try writeAtomically(try encoder.encode(profile), to: directory.appendingPathComponent("sensitivity.json"))
                try writeAtomically(Data(profile.plot(title: "\(graph.metadata["model"] ?? model): accuracy drop per group pruned alone").svg.utf8),
                                    to: directory.appendingPathComponent("sensitivity.svg"))
            }
            if json {
                print(String(decoding: try encoder.encode(profile), as: UTF8.self))
                return
            }
            print(profile.table)
            print(String(format: "%d groups x %d ratios in %.1f s", profile.groups.count, profile.ratios.count, profile.seconds))
            if let out { print("wrote \(out)/sensitivity.json and \(out)/sensitivity.svg") }
        }
    }

    struct ReportCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "report",
            abstract: "Redraw a compression run's report.html from its report.json and print its step table.",
            discussion: """
                DIR is a `pare compress --out` directory. The page is one self-contained HTML file \
                (inline SVG charts, no scripts, nothing fetched): open it in any browser.
                """)

        @Argument(help: "A pare compress run directory.") var directory: String
        @Option(help: "Write the page here instead of DIR/report.html.") var out: String?
        @Flag(help: "Print report.json.") var json = false

        func run() throws {
            let dir = URL(fileURLWithPath: directory)
            let file = dir.appendingPathComponent("report.json")
            guard FileManager.default.fileExists(atPath: file.path) else {
                throw CommandError("\(directory): no report.json (is it a `pare compress --out` directory?)")
            }
            let report: CompressionReport
            do {
                report = try CompressionReport.read(from: file)
            } catch {
                throw CommandError("\(file.path) cannot be read as a compression report: \(error)")
            }
            let page = out.map { URL(fileURLWithPath: $0) } ?? dir.appendingPathComponent("report.html")
            try writeAtomically(Data(ReportPage(report: report).html.utf8), to: page)
            if json {
                print(String(decoding: try fileContents(file), as: UTF8.self))
                return
            }
            print(report.table)
            print("wrote \(page.path)")
        }
    }
}

/// `--ratios 0.1,0.3,0.5`: the numbers, or a validation error naming the part that is not one
/// (`pare sensitivity` and `pare compress`; the range and order are checked by
/// ``SensitivityAnalysis/Settings/validate()``).
func parseRatioList(_ text: String) throws -> [Double] {
    try text.split(separator: ",").map { part in
        guard let r = Double(part.trimmingCharacters(in: .whitespaces)) else {
            throw ValidationError("--ratios '\(text)': '\(part)' is not a number")
        }
        return r
    }
}
