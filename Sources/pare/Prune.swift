import ArgumentParser
import Foundation
import PareAnalysis
import PareCompress
import PareCore
import PareData
import PareIO
import PareModels
import PareTrain

extension Pare {
    struct Prune: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Remove channels: a physically smaller model, measured step by step.",
            discussion: """
                Channels are removed in dependency groups computed from the graph (a residual \
                stage, its shortcut and every block's last convolution are one group; \
                --show-groups prints them). A criterion scores each group's channels, a scope \
                spreads the ratio, and surgery slices every member, so the result is a smaller \
                model file that reloads, trains, evaluates and exports.

                Examples:
                  pare prune resnet18 --criterion l1 --ratio 0.5 --out r18-half
                  pare prune resnet18 --show-groups
                  pare prune M.safetensors --data fashion-mnist --criterion taylor
                      --scope global --ratio 0.7 --steps 5 --finetune-epochs 2 --out p
                  pare prune M.safetensors --data fashion-mnist --criterion bn-gamma
                      --per-step 0.05 --target params=0.3 --finetune-epochs 5 --out p
                  pare prune M.safetensors --data fashion-mnist --sweep 0.975,0.95,0.9
                      --target params=0.3 --finetune-epochs 5 --out sweep

                --ratio is the fraction of each group's channels removed (Torch-Pruning's \
                pruning_ratio); per-layer ratios: --ratio layer4=0.7,default=0.5. Kept widths \
                are rounded up to --round-to (default 8: oneDNN pads channels to 8 or 16).

                DIR gets step-K.safetensors for every step (step-0 is the original), \
                pruned.safetensors (the last), plan.json (all removals, against the original; \
                --plan re-applies it), steps.csv and steps.json (parameters, MACs, file size, \
                latency at --bench-batch and --threads, validation and test accuracy) and \
                accuracy-vs-parameters.svg. With --finetune-epochs every step is fine-tuned with \
                pare train's options and keeps its best epoch. A killed run continues with \
                `pare prune --resume DIR`.

                Criteria l1, l2, bn-gamma, fpgm and random need no data; taylor, \
                mean-activation and apoz run on --calibration-batches batches of --data.
                """)

        @Argument(help: "Zoo model name or .safetensors model file (with --resume: the run's).")
        var model: String?
        @Option(help: "Data set for calibration, fine-tuning and accuracy: \(DatasetSpec.acceptedForms.joined(separator: ", ")).")
        var data: String?
        @Option(help: "Run directory to write (created; must not hold a run already).")
        var out: String?
        @Option(help: ArgumentHelp("Continue the run in this directory.", valueName: "dir"))
        var resume: String?

        @Option(help: "Importance criterion: \(PruningCriterion.names).")
        var criterion: String = "l1"
        @Option(help: "Fraction of each group's channels to remove, in [0, 1), optionally per layer: layer4=0.7,default=0.5.")
        var ratio: String = "0.5"
        @Option(help: "uniform (every group the same fraction) or global (ranked across groups).")
        var scope: String = "uniform"
        @Option(help: "Comma-separated nodes (or prefixes, e.g. layer1) whose channels are never removed.")
        var ignore: String?
        @Option(help: "Kept widths are multiples of this; 1 for none.") var roundTo = 8
        @Option(help: "Global scope: the most any one group may lose.") var maxGroupRatio = 0.9
        @Option(help: "Reach the ratio in this many steps (default: one shot).") var steps: Int?
        @Flag(help: "With --steps: shrink the kept fraction geometrically instead of growing the removed one linearly.")
        var geometric = false
        @Option(help: "Remove this fraction of what is left per step (the seed reports' rate 0.95 is 0.05) until --target.")
        var perStep: Double?
        @Option(help: "With --per-step or --sweep: params=N or macs=N, N a count (1.2M) or a fraction of the original (0.3).")
        var target: String?
        @Option(help: "Comma-separated per-step keep rates, the seed reports' `rate` (0.975,0.95,0.9): one run each, one plot.")
        var sweep: String?
        @Option(help: "Epochs of fine-tuning after every step (needs --data; default: 0).") var finetuneEpochs = 0
        @Option(help: ArgumentHelp("Fine-tune every step against this teacher (a trained .safetensors model, e.g. the unpruned model) with knowledge distillation; see `pare distill --help`.", valueName: "file"))
        var teacher: String?
        @Option(help: "With --teacher: weight α of the teacher term (default: \(DistillationSettings().alpha)).") var alpha: Float?
        @Option(help: "With --teacher: softmax temperature T (default: \(DistillationSettings().temperature)).") var temperature: Float?
        @Option(help: "Batches the data-driven criteria run on.") var calibrationBatches = 8
        @Option(help: ArgumentHelp("Apply this plan (a plan.json) instead of scoring.", valueName: "file"))
        var plan: String?
        @Flag(help: "Print the channel groups and stop.") var showGroups = false
        @Option(help: ArgumentHelp("Also write the channel groups as JSON here.", valueName: "file"))
        var groupsJSON: String?
        @Option(help: "Batch of the per-step latency measurement.") var benchBatch = 1
        @Option(help: "Timed runs of the per-step latency measurement (median).") var benchRuns = 20
        @Option(help: "Input shape CxHxW for zoo models without --data (default: the model's).") var input: String?
        @Option(help: "Classes of a zoo model without --data (default: the model's).") var classes: Int?
        @OptionGroup var training: TrainingOptions
        @OptionGroup var folderOptions: ImageFolderOptions
        @Option(help: "Without a terminal, print a progress line every this many batches.") var logEvery = 100
        @Flag(help: "Print the steps as JSON.") var json = false

        func validate() throws {
            if resume == nil {
                guard model != nil else { throw ValidationError("give a MODEL to prune (or --resume DIR)") }
                guard out != nil || showGroups else { throw ValidationError("give --out DIR for the pruned models and tables") }
            }
            if perStep != nil && steps != nil { throw ValidationError("--per-step and --steps are two schedules: give one") }
            if let perStep, !(perStep > 0 && perStep < 1) { throw ValidationError("--per-step must be in (0, 1), got \(perStep)") }
            if (perStep != nil || sweep != nil) && target == nil {
                throw ValidationError("--per-step and --sweep prune until --target params=N or macs=N")
            }
            if let steps, steps < 1 { throw ValidationError("--steps must be at least 1, got \(steps)") }
            if finetuneEpochs < 0 { throw ValidationError("--finetune-epochs must not be negative") }
            if teacher != nil && finetuneEpochs == 0 && resume == nil {
                throw ValidationError("--teacher distils while fine-tuning: give --finetune-epochs")
            }
            if teacher == nil && (alpha != nil || temperature != nil) { throw ValidationError("--alpha and --temperature need --teacher") }
            if finetuneEpochs > 0 && data == nil && resume == nil { throw ValidationError("--finetune-epochs needs --data") }
            if calibrationBatches < 1 { throw ValidationError("--calibration-batches must be at least 1") }
            if benchBatch < 1 || benchRuns < 1 { throw ValidationError("--bench-batch and --bench-runs must be positive") }
            if plan != nil && (steps != nil || perStep != nil || sweep != nil) {
                throw ValidationError("--plan applies one plan in one step: leave out --steps, --per-step and --sweep")
            }
        }

        func run() throws {
            if let resume {
                let directory = URL(fileURLWithPath: resume)
                let state = try JSONDecoder().decode(ResumeNotes.self, from: fileContents(directory.appendingPathComponent("run.json")))
                let sets = try state.configuration.notes["data"].map { try openData($0) }
                let teacherPath = teacher ?? state.configuration.notes["teacher"]
                let run = try PruningRun(resuming: directory, trainingSet: sets?.train, testSet: sets?.test,
                                         teacher: try teacherPath.map(loadTeacher))
                if !json { print("resuming \(resume) after step \(run.records.count - 1)") }
                try execute(run, label: run.configuration.settings.criterion.rawValue)
                return
            }
            let sets = try data.map { try openData($0) }
            let reference = ModelReference(text: model!)
            let shape = try input.map(parseInputShape)
            if let sets, let shape, shape != sets.train.sampleShape {
                throw CommandError("--input \(shape) does not match the data set's \(sets.train.sampleShape) images")
            }
            var graph = try reference.isFile
                ? reference.graph(input: shape, classes: nil, withParameters: !showGroups)
                : reference.graph(input: sets?.train.sampleShape ?? shape, classes: sets?.train.classes ?? classes,
                                  withParameters: !showGroups, seed: training.seed ?? 0)
            if let sets {
                do {
                    try Trainer.checkFit(graph, sampleShape: sets.train.sampleShape, classes: sets.train.classes)
                } catch let error as TrainerError {
                    throw CommandError("\(model!) does not fit --data \(data!): \(error)")
                }
            }
            if graph.metadata["model"] == nil { graph.metadata["model"] = model! }
            let analysis = try ChannelAnalysis(graph)
            if let groupsJSON { try writeAtomically(try Self.encoder.encode(analysis.groups), to: URL(fileURLWithPath: groupsJSON)) }
            if showGroups {
                if json {
                    print(String(decoding: try Self.encoder.encode(analysis.groups), as: UTF8.self))
                } else {
                    let prunable = analysis.groups.filter(\.prunable)
                    print("\(model!): \(analysis.groups.count) channel groups, \(prunable.count) prunable "
                          + "(\(prunable.reduce(0) { $0 + $1.units }) channels)\n")
                    print(analysis.groups.map(\.description).joined(separator: "\n\n"))
                }
                return
            }
            let configuration = try makeConfiguration(graph, spec: sets?.spec)
            let directory = URL(fileURLWithPath: out!)
            if let sweep {
                try runSweep(sweep, graph: graph, configuration: configuration, sets: sets, directory: directory)
                return
            }
            let run = try PruningRun(graph: graph, directory: directory, configuration: configuration,
                                     trainingSet: sets?.train, testSet: sets?.test, teacher: try teacher.map(loadTeacher))
            if !json { printHeader(graph, configuration) }
            try execute(run, label: configuration.settings.criterion.rawValue)
        }

        /// The run's settings from the options (and the data set's normalisation).
        func makeConfiguration(_ graph: Graph, spec: DatasetSpec?) throws -> PruningRunConfiguration {
            var c = PruningRunConfiguration()
            guard let criterion = PruningCriterion(rawValue: criterion) else {
                throw ValidationError("--criterion '\(self.criterion)': use one of \(PruningCriterion.names)")
            }
            guard let scope = PruningScope(rawValue: scope) else {
                throw ValidationError("--scope '\(self.scope)': use uniform or global")
            }
            c.settings.criterion = criterion
            c.settings.scope = scope
            (c.settings.ratio, c.settings.layerRatios) = try Self.parseRatio(ratio)
            c.settings.ignored = ignore.map { $0.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) } } ?? []
            c.settings.roundTo = roundTo
            c.settings.maxGroupRatio = maxGroupRatio
            c.settings.seed = training.seed ?? 0
            try c.settings.validate(for: graph)
            if criterion.needsData && data == nil && plan == nil {
                throw CommandError("criterion \(criterion.rawValue) scores channels on calibration data: give --data")
            }
            if let steps {
                c.schedule = .steps(count: steps, geometric: geometric)
            } else if let perStep {
                c.schedule = .perStep(fraction: perStep, target: try parseTarget(graph))
            }
            c.finetuneEpochs = finetuneEpochs
            var base = TrainingConfiguration()
            if let spec { base.normalization = spec.defaultNormalization }
            c.training = try training.apply(to: base, spec: spec)
            c.training.epochs = max(1, finetuneEpochs)
            c.calibrationBatches = calibrationBatches
            c.benchmark = LatencyBenchmark.Settings(batch: benchBatch, threads: c.training.threads, warmup: 5, runs: benchRuns)
            if let plan { c.plan = try PruningPlan.read(from: URL(fileURLWithPath: plan)) }
            c.notes = ["model": model!]
            if let data { c.notes["data"] = data }
            if let teacher {
                var settings = DistillationSettings()
                if let alpha { settings.alpha = alpha }
                if let temperature { settings.temperature = temperature }
                try settings.validate()
                c.distillation = settings
                c.notes["teacher"] = teacher
            }
            return c
        }

        func loadTeacher(_ path: String) throws -> Graph {
            guard FileManager.default.fileExists(atPath: path) else {
                throw CommandError("--teacher \(path): no such file (a teacher is a trained .safetensors model)")
            }
            return try HintAdapters.student(fromTraining: try ModelFile.load(from: URL(fileURLWithPath: path)))
        }

        func parseTarget(_ graph: Graph) throws -> PruningTarget {
            let summary = try ModelSummary(graph: graph)
            return try PruningTarget(parsing: target!, parameters: summary.trainableParameters, macs: summary.operations.macs)
        }

        /// `0.5`, or `layer4=0.7,default=0.5`.
        static func parseRatio(_ text: String) throws -> (Double, [String: Double]) {
            var ratio = 0.5, layers: [String: Double] = [:]
            for part in text.split(separator: ",") {
                let pieces = part.split(separator: "=", maxSplits: 1).map { String($0).trimmingCharacters(in: .whitespaces) }
                guard let value = Double(pieces.last!) else {
                    throw ValidationError("--ratio '\(text)': '\(part)' is not a number or LAYER=NUMBER")
                }
                if pieces.count == 1 || pieces[0] == "default" { ratio = value } else { layers[pieces[0]] = value }
            }
            return (ratio, layers)
        }

        func runSweep(_ text: String, graph: Graph, configuration: PruningRunConfiguration,
                      sets: (train: any Dataset, test: (any Dataset)?, spec: DatasetSpec)?, directory: URL) throws {
            let rates = try text.split(separator: ",").map { part -> Double in
                guard let rate = Double(part), rate > 0, rate < 1 else {
                    throw ValidationError("--sweep '\(text)': rates are keep fractions in (0, 1), such as 0.975,0.95,0.9")
                }
                return rate
            }
            let target = try parseTarget(graph)
            var runs: [(label: String, records: [PruningStepRecord])] = []
            for rate in rates {
                var c = configuration
                c.schedule = .perStep(fraction: 1 - rate, target: target)
                let label = "rate \(rate)"
                if !json { print("== \(label): remove \(String(format: "%.3g", 1 - rate)) of what is left per step until \(target)") }
                let run = try PruningRun(graph: graph, directory: directory.appendingPathComponent("rate-\(rate)"),
                                         configuration: c, trainingSet: sets?.train, testSet: sets?.test,
                                         teacher: try teacher.map(loadTeacher))
                runs.append((label, try execute(run, label: label)))
            }
            let plot = PruningRun.accuracyPlot(runs, title: "\(graph.metadata["model"] ?? model!): accuracy against parameters per step rate")
            try writeAtomically(Data(plot.svg.utf8), to: directory.appendingPathComponent("accuracy-vs-parameters.svg"))
            if !json { print("wrote \(directory.path)/accuracy-vs-parameters.svg (one line per rate)") }
        }

        @discardableResult
        func execute(_ run: PruningRun, label: String) throws -> [PruningStepRecord] {
            let display = TrainingDisplay(logEvery: logEvery)
            if !json {
                run.onEvent = { event in
                    switch event {
                    case let .measuring(step):
                        if isatty(STDERR_FILENO) != 0 { FileHandle.standardError.write(Data("step \(step): measuring latency and accuracy...\r".utf8)) }
                    case let .stepStarted(step, ratio):
                        print(String(format: "step %d: pruning to ratio %.3f of the original channels", step, ratio))
                    case let .training(_, event): display.handle(event)
                    case let .stepFinished(record): print(Self.line(record))
                    case let .stopped(message): print("stopped: \(message)")
                    }
                }
            }
            let records = try run.run()
            if json {
                print(String(decoding: try Self.encoder.encode(records), as: UTF8.self))
            } else {
                let b = run.configuration.benchmark
                if let first = records.first, let last = records.last, records.count > 1 {
                    print(String(format: "%@: parameters %@ -> %@ (%.2fx fewer), MACs %@ -> %@ (%.2fx), latency %.3f -> %.3f ms "
                                 + "(%.2fx faster, batch %d, %d threads)", label, grouped(Double(first.parameters)),
                                 grouped(Double(last.parameters)), Double(first.parameters) / Double(last.parameters),
                                 grouped(Double(first.macs)), grouped(Double(last.macs)), Double(first.macs) / Double(last.macs),
                                 first.latencyMilliseconds, last.latencyMilliseconds,
                                 first.latencyMilliseconds / last.latencyMilliseconds, b.batch, b.threads))
                }
                print("wrote \(run.directory.path)/{pruned.safetensors, plan.json, steps.csv, steps.json, step-K.safetensors}")
            }
            return records
        }

        static func line(_ r: PruningStepRecord) -> String {
            var text = String(format: "step %d: %@ parameters, %@ MACs, %@ bytes, %.3f ms", r.step,
                              grouped(Double(r.parameters)), grouped(Double(r.macs)), grouped(Double(r.fileBytes)),
                              r.latencyMilliseconds)
            if let v = r.validationAccuracy { text += String(format: ", validation %.2f%%", v * 100) }
            if let t = r.testAccuracy { text += String(format: ", test %.2f%%", t * 100) }
            if r.step > 0 { text += ", \(r.removedChannels) channel units removed" }
            return text
        }

        func printHeader(_ graph: Graph, _ c: PruningRunConfiguration) {
            let s = c.settings
            var text = "\(model!): \(s.criterion.rawValue), \(s.scope.rawValue), ratio \(s.ratio)"
            if !s.layerRatios.isEmpty { text += " (" + s.layerRatios.map { "\($0.key)=\($0.value)" }.sorted().joined(separator: ", ") + ")" }
            text += ", round to \(s.roundTo), \(c.plan != nil ? "plan \(plan!)" : c.schedule.description)"
            if c.finetuneEpochs > 0 { text += ", \(c.finetuneEpochs) fine-tuning epochs per step" }
            text += "; latency at batch \(c.benchmark.batch), \(c.benchmark.threads) threads"
            print(text)
        }

        func openData(_ text: String) throws -> (train: any Dataset, test: (any Dataset)?, spec: DatasetSpec) {
            try ImageFolderOptions.openTrainingAndTest(text, size: folderOptions.imageSize ?? 224,
                                                       skip: folderOptions.skipBadImages, quiet: json)
        }

        static var encoder: JSONEncoder {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            return encoder
        }
    }
}

/// The part of `run.json` that `--resume` reads before the run (the data set it used).
private struct ResumeNotes: Decodable {
    struct Configuration: Decodable { var notes: [String: String] }
    var configuration: Configuration
}
