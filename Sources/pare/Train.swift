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
    struct Train: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Train a classifier, with checkpoints, metrics and exact resume.",
            discussion: """
                MODEL is a zoo name (built for the data set's image shape and classes, weights seeded \
                by --seed) or a native .safetensors model file to fine-tune. After every epoch the \
                model is evaluated (on the --val-fraction held out of the training set, else on the \
                test set) and --out gets last.safetensors (the checkpoint to resume from: weights, \
                optimizer state, settings, metrics), best.safetensors (best evaluation accuracy so \
                far), metrics.csv and summary.json, each written atomically, and the curves as \
                accuracy.svg and loss.svg (train, validation, test per epoch).

                `pare train --resume DIR` continues a run from DIR/last.safetensors with its saved \
                model, data and settings and ends with exactly the weights the run would have had \
                without the interruption. With --resume only --epochs (to train longer) and --threads \
                may differ from the saved settings; other options may be repeated but must match.

                A NaN or infinite loss stops the run; last.safetensors keeps the last good epoch.

                --qat: quantisation-aware fine-tuning of a trained f32 MODEL file (not a zoo \
                name). Its batch norms are folded into the convolutions, post-training \
                calibration (minmax, --calibration-batches seeded batches of the training split) \
                sets the starting ranges, and the folded model trains with the int8 model's \
                rounding in its forward pass (per-channel weights at --weight-bits, per-tensor \
                activations with moving-average ranges) and the straight-through estimator in \
                its backward pass. Defaults change to fine-tuning: 2 epochs, lr 0.0001, weight \
                decay 0 (any given option wins). The checkpoints hold the folded f32 weights and \
                the ranges (--resume continues such a run as one, --qat or not); at the end \
                --out also gets int8.safetensors, the int8 model of best.safetensors (the same \
                file as `pare quantize` writes), whose test accuracy is printed (with --json the \
                run's summary comes under "training" and the int8 file under "int8").
                """)

        static let defaults = TrainingConfiguration()

        @Argument(help: "Zoo model name or .safetensors model file (with --resume: the checkpoint's).")
        var model: String?
        @Option(help: "Data set: \(DatasetSpec.acceptedForms.joined(separator: ", ")) (with --resume: the checkpoint's).")
        var data: String?
        @Option(help: "Run directory to write (created; must not hold a run already).")
        var out: String?
        @Option(help: ArgumentHelp("Continue the run in this directory from its last.safetensors.", valueName: "dir"))
        var resume: String?
        @Option(help: "Epochs (of the first phase, with --then) (default: \(defaults.epochs)).") var epochs: Int?
        @Option(help: "Width multiplier of a zoo model that has one (mobilenet_v2, mobilenet_v2-cifar, mobilenet_v3_large, mobilenet_v3_small, smallcnn).")
        var widthMultiplier: Double?
        @OptionGroup var training: TrainingOptions
        @OptionGroup var folderOptions: ImageFolderOptions
        @Flag(help: "Quantisation-aware fine-tuning of a trained f32 model file; writes int8.safetensors at the end (see above).")
        var qat = false
        @Option(help: "With --qat: calibration batches (of --batch images) that set the starting ranges.") var calibrationBatches = 16
        @OptionGroup(title: "With --qat") var int8: Int8Options
        @Option(help: "Without a terminal, print a progress line every this many batches.") var logEvery = 100
        @Flag(help: "Print the final summary as JSON.") var json = false

        func validate() throws {
            if resume == nil {
                guard model != nil else { throw ValidationError("give a MODEL to train (or --resume DIR)") }
                guard data != nil else { throw ValidationError("give --data (or --resume DIR)") }
                guard out != nil else { throw ValidationError("give --out DIR for the checkpoints and metrics") }
            } else if let out, let resume, URL(fileURLWithPath: out).standardized != URL(fileURLWithPath: resume).standardized {
                throw ValidationError("--out must be the --resume directory (or left out)")
            }
            guard logEvery > 0 else { throw ValidationError("--log-every must be positive") }
            if let epochs, epochs < 0 { throw ValidationError("--epochs must not be negative, got \(epochs)") }
            guard calibrationBatches > 0 else { throw ValidationError("--calibration-batches must be positive") }
            if !qat && resume == nil && int8.weightBits != nil { throw ValidationError("--weight-bits needs --qat") }
            if !qat && resume == nil && int8.minimumInputChannels != nil { throw ValidationError("--int8-min-channels needs --qat") }
            if !qat && resume == nil && int8.separateResidualAdds { throw ValidationError("--separate-residual-adds needs --qat") }
        }

        func run() throws {
            let trainer: Trainer
            if let resume {
                let resumed = try ResumedRun(resume, data: data, folderOptions: folderOptions, quiet: json)
                let notes = resumed.notes
                if let model, model != notes["model"] { throw CommandError("the run in \(resume) trained \(notes["model"] ?? "?"), not \(model)") }
                var configuration = try apply(to: resumed.saved.configuration, spec: resumed.spec)
                configuration.notes["data"] = resumed.dataText
                if qat && configuration.fakeQuantization == nil {
                    throw CommandError("the run in \(resume) is not quantisation-aware; --qat starts a new run from a trained model")
                }
                trainer = try Trainer(resuming: resumed.directory, trainingSet: resumed.train, testSet: resumed.test,
                                      configuration: configuration)
                if !json {
                    print("resuming \(resume) after epoch \(trainer.state.completedEpochs) of \(configuration.totalEpochs)")
                }
            } else {
                let size = folderOptions.imageSize ?? 224
                let (train, test, spec) = try openData(data!, size: size, skip: folderOptions.skipBadImages)
                var base = Self.defaults
                base.normalization = spec.defaultNormalization
                if qat {
                    base.epochs = 2
                    base.learningRate = 1e-4
                    base.weightDecay = 0
                }
                var configuration = try apply(to: base, spec: spec)
                configuration.notes = ["model": model!, "data": data!]
                if case .folder = spec {
                    configuration.notes["image-size"] = String(size)
                    if folderOptions.skipBadImages { configuration.notes["skip-bad-images"] = "true" }
                }
                let reference = ModelReference(text: model!)
                if qat && !reference.isFile {
                    throw CommandError("--qat fine-tunes a trained f32 model: give its .safetensors file, not the zoo name '\(model!)' (train it first)")
                }
                var graph = try reference.isFile
                    ? reference.graph(input: nil, classes: nil, withParameters: true, widthMultiplier: widthMultiplier)
                    : reference.graph(input: train.sampleShape, classes: train.classes, withParameters: true,
                                      seed: configuration.seed, widthMultiplier: widthMultiplier)
                if qat {
                    let start = try prepareQuantizationAware(graph, train: train, configuration: configuration)
                    graph = start.graph
                    configuration.fakeQuantization = start.plan
                    configuration.notes["qat"] = "pare train --qat"
                    if !json {
                        print(String(format: "quantisation-aware: %d batch norms folded, %d int8 layers at %d-bit weights, "
                                     + "ranges calibrated on %d training images", start.report.foldedBatchNorms.count,
                                     start.report.int8Layers, start.report.weightBits, start.report.calibrationSamples))
                    }
                }
                trainer = try Trainer(graph: graph, trainingSet: train, testSet: test, configuration: configuration,
                                      directory: URL(fileURLWithPath: out!))
                if !json { printHeader(trainer, train: train, test: test) }
            }
            let display = TrainingDisplay(logEvery: logEvery)
            let directory = trainer.directory.url
            trainer.onEvent = { [json] event in
                if !json { display.handle(event) }
                if case .epochFinished = event { try? writeCurves(trainer.state.history, to: directory) }
            }
            let summary = try runReportingStops(trainer)
            let int8 = try trainer.configuration.fakeQuantization == nil ? nil : writeInt8(trainer)
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
                if let int8 {
                    struct Output: Encodable { var training: TrainingSummary, int8: Int8Model }
                    print(String(decoding: try encoder.encode(Output(training: summary, int8: int8)), as: UTF8.self))
                } else {
                    print(String(decoding: try encoder.encode(summary), as: UTF8.self))
                }
            } else {
                printTrainingFooter(summary, directory: trainer.directory, extraFiles: int8 == nil ? [] : ["int8.safetensors"])
                if let int8, let accuracy = int8.testAccuracy {
                    print(String(format: "int8 model of the best epoch: test accuracy %.2f%% (%@)", accuracy * 100, int8.file))
                }
            }
        }

        /// The int8 model a quantisation-aware run wrote.
        struct Int8Model: Encodable {
            var file: String
            var int8Layers: Int
            var weightBits: Int
            var testAccuracy: Double?
        }

        /// `--qat` on a new run: folds, calibrates and plans (``QuantizationAwareTraining``).
        func prepareQuantizationAware(_ graph: Graph, train: any Dataset,
                                      configuration: TrainingConfiguration) throws -> QuantizationAwareTraining.Preparation {
            if let node = graph.nodes.first(where: { $0.quantization != nil }) {
                throw CommandError("\(model!) is already quantised (node '\(node.name)' is int8); --qat fine-tunes the f32 model it came from")
            }
            let loader = DataLoader(train, batchSize: configuration.batchSize, shuffle: true, seed: configuration.seed,
                                    transforms: configuration.normalization.map { [$0] } ?? [])
            let epoch = loader.epoch(0)
            var batches: [Tensor] = []
            while batches.count < calibrationBatches, let next = try epoch.next() { batches.append(next.images) }
            let settings = QuantizationSettings(weightBits: int8.resolvedWeightBits(),
                                                minimumInputChannels: int8.resolvedMinimumInputChannels(),
                                                threads: configuration.threads, fuseResidualAdds: !int8.separateResidualAdds)
            do {
                return try QuantizationAwareTraining(settings: settings).prepare(graph, calibration: batches)
            } catch let error as QuantizationError {
                throw CommandError("\(error)")
            }
        }

        /// Converts the run's best checkpoint to `int8.safetensors` in its directory and
        /// measures that file on the test set, if there is one.
        func writeInt8(_ trainer: Trainer) throws -> Int8Model {
            let url = trainer.directory.url.appendingPathComponent("int8.safetensors")
            var (result, report) = try QuantizationAwareTraining.convert(checkpoint: trainer.directory.best)
            result.metadata["train"] = CommandLine.arguments.dropFirst().joined(separator: " ")
            try trainer.state.file(graph: result, optimizerState: [:]).write(to: url)
            var accuracy: Double?
            if let test = trainer.testSet {
                let written = try ModelFile.load(from: url)
                accuracy = try Evaluator(graph: written, batchSize: 256, threads: trainer.configuration.threads)
                    .evaluate(test, transforms: trainer.configuration.normalization.map { [$0] } ?? []).top1
            }
            return Int8Model(file: url.path, int8Layers: report.int8Layers, weightBits: report.weightBits, testAccuracy: accuracy)
        }

        /// The training and test sets named by `text` (image folders at `size`, skipping bad
        /// images when `skip`).
        func openData(_ text: String, size: Int, skip: Bool) throws -> (train: any Dataset, test: (any Dataset)?, spec: DatasetSpec) {
            try ImageFolderOptions.openTrainingAndTest(text, size: size, skip: skip, quiet: json)
        }

        /// `base` with every option given on the command line.
        func apply(to base: TrainingConfiguration, spec: DatasetSpec) throws -> TrainingConfiguration {
            var c = base
            if let epochs { c.epochs = epochs }
            return try training.apply(to: c, spec: spec)
        }

        func printHeader(_ trainer: Trainer, train: any Dataset, test: (any Dataset)?) {
            let parameters = (try? trainer.graph.trainableParameterCount()) ?? 0
            print("\(model!): \(grouped(Double(parameters))) parameters; data \(data!): \(train.count) training images "
                  + "\(train.sampleShape), \(test.map { "\($0.count) test" } ?? "no test set"), \(train.classes) classes")
            print(describeSettings(trainer.configuration))
        }
    }
}

/// One line naming every setting of a run, for the header of `pare train` and `pare distill`.
func describeSettings(_ c: TrainingConfiguration) -> String {
    var settings = "\(c.epochs) epochs, batch \(c.batchSize)"
    if c.accumulationSteps > 1 { settings += " x \(c.accumulationSteps) accumulated" }
    settings += ", \(c.optimizer.rawValue) lr \(c.learningRate)" + (c.optimizer == .sgd ? " momentum \(c.momentum)" : "")
        + " wd \(c.weightDecay), schedule \(c.schedule)" + (c.warmupSteps > 0 ? " after \(c.warmupSteps) warm-up steps" : "")
    if c.gradientClipNorm > 0 { settings += ", clip grad norm \(c.gradientClipNorm)" }
    settings += ", augment \(c.augmentation), label smoothing \(c.labelSmoothing), \(c.threads) thread(s), seed \(c.seed)"
    if c.validationFraction > 0 { settings += ", validation fraction \(c.validationFraction)" }
    for phase in c.laterPhases { settings += "; then \(phase)" }
    if let plan = c.fakeQuantization {
        settings += "; quantisation-aware: \(plan.weights.count) layers' weights and \(plan.activations.count) activations fake-quantised"
    }
    return settings
}

/// The last lines of `pare train` and `pare distill`: best and final accuracy, files written.
func printTrainingFooter(_ summary: TrainingSummary, directory: RunDirectory, extraFiles: [String] = []) {
    if let best = summary.bestEpoch, let accuracy = summary.bestAccuracy {
        print(String(format: "best %@ accuracy %.2f%% at epoch %d; %d epochs in %@", summary.selectedBy, accuracy * 100,
                     best, summary.completedEpochs, duration(summary.totalSeconds)))
    }
    if let test = summary.final?.test {
        print(String(format: "final test accuracy %.2f%% (loss %.4f)", test.accuracy * 100, test.loss))
    }
    print("wrote \(directory.url.path)/{last,best}.safetensors, metrics.csv, summary.json"
          + extraFiles.map { ", \($0)" }.joined())
}

/// Runs `trainer`, turning a stop on NaN or a failed checkpoint write into a message that says
/// what was kept.
/// `accuracy.svg` and `loss.svg` in a run directory: the epochs so far.
func writeCurves(_ history: [EpochMetrics], to directory: URL) throws {
    let name = directory.lastPathComponent
    try writeAtomically(Data(TrainingCurves.accuracyPlot(history, title: "\(name): accuracy per epoch").svg.utf8),
                        to: directory.appendingPathComponent("accuracy.svg"))
    try writeAtomically(Data(TrainingCurves.lossPlot(history, title: "\(name): loss per epoch").svg.utf8),
                        to: directory.appendingPathComponent("loss.svg"))
}

func runReportingStops(_ trainer: Trainer) throws -> TrainingSummary {
    do {
        return try trainer.run()
    } catch let error as TrainingError {
        throw CommandError(stopMessage(error, trainer))
    } catch let error as TrainerError {
        if case .nonFiniteParameters = error { throw CommandError(stopMessage(error, trainer)) }
        throw error
    } catch let error as SafetensorsError {
        // Writing a checkpoint failed (a full disk, say): the previous one is intact.
        throw CommandError(stopMessage(error, trainer))
    } catch let error as AtomicWriteError {
        throw CommandError(stopMessage(error, trainer))
    }
}

private func stopMessage(_ error: any Error, _ trainer: Trainer) -> String {
    let epochs = trainer.state.completedEpochs
    return "training stopped: \(error). "
        + (epochs == 0 ? "No epoch was completed, so no checkpoint was written."
                       : "\(trainer.directory.last.path) keeps epoch \(epochs), the last good one.")
}

/// A `--normalize` value: a preset name, `none`, or `default` (the data set's preset).
func parseNormalization(_ text: String, spec: DatasetSpec) throws -> Normalize? {
    switch text {
    case "none": return nil
    case "default": return spec.defaultNormalization
    default:
        guard let preset = Normalize.presets[text] else {
            throw ValidationError("--normalize '\(text)': use one of \(Normalize.presets.keys.sorted().joined(separator: ", ")), none or default")
        }
        return preset
    }
}
