import ArgumentParser
import Foundation
import PareAnalysis
import PareCompress
import PareCore
import PareData
import PareIO
import PareTrain

extension Pare {
    struct Compress: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "One run to a size or speed target: teacher, sensitivity, prune with distillation, rewrite, int8, export, report.",
            discussion: """
                Phases, each measured (parameters, MACs, file bytes, latency at --bench-batch and \
                --threads, validation and test accuracy) and saved in --out:

                  teacher      with --train-teacher: trains MODEL for --teacher-epochs; it becomes the
                               teacher and the student's starting point (else MODEL is a trained
                               .safetensors file and the teacher is --teacher FILE, or MODEL itself)
                  start        measures the starting model: step 0, the reference of every ratio
                  sensitivity  every channel group pruned alone at --ratios on --sensitivity-samples
                               validation images (`pare sensitivity` shows the same table)
                  allocate     per-group ratios that meet --target on the final model, spending the
                               least predicted accuracy (greedy on the profile)
                  prune        --prune-steps steps to those ratios, each fine-tuned --finetune-epochs
                               epochs, distilling from the teacher when the recipe has distill
                  rewrite      with dwpw, svd, tucker or grouped in --recipe, then fine-tuned
                  finetune     with --final-epochs: more epochs on the last model
                  quantize     int8: --method calibration on --calibration-batches batches, then
                               --qat-epochs of quantisation-aware training when int8 loses more
                               than --max-drop (--qat always|never to force it either way)
                  export       final.safetensors, final.onnx; report.html and report.json

                --target params=N | size=BYTES | macs=N | latency=MS is checked on the final model \
                (size counts its native file: size=30KB; latency is measured here). The run stops, \
                keeping every step's model, when a step's validation accuracy falls more than \
                --max-drop points below the start's, or when the target cannot be met. A killed run \
                continues with `pare compress --resume DIR`. `pare report DIR` redraws the report.

                Examples:
                  pare compress smallcnn --data fashion-mnist --train-teacher --teacher-epochs 8 \\
                      --target params=25k --max-drop 1.5 --out c
                  pare compress teacher.safetensors --data fashion-mnist --target size=30KB \\
                      --recipe prune,distill,quantize --prune-steps 3 --finetune-epochs 2 --out c
                  pare compress r20.safetensors --data fashion-mnist --target latency=0.5ms --recipe prune,quantize --out c
                  pare compress --resume c
                """)

        @Argument(help: "Zoo model name (with --train-teacher) or trained .safetensors model file.")
        var model: String?
        @Option(help: "Data set: \(DatasetSpec.acceptedForms.joined(separator: ", ")) (with --resume: the run's).")
        var data: String?
        @Option(help: "params=N, size=BYTES (30KB, 29.3KiB), macs=N or latency=MS, met by the final model.")
        var target: String?
        @Option(help: "Steps: prune, distill, quantize and at most one rewrite (dwpw, svd, tucker, grouped).")
        var recipe = "prune,distill,quantize"
        @Option(help: ArgumentHelp("Distil from this trained .safetensors model (default: the starting model).", valueName: "file"))
        var teacher: String?
        @Flag(help: "Train MODEL first (--teacher-epochs); it becomes the teacher and the starting point.") var trainTeacher = false
        @Option(help: "Epochs of --train-teacher.") var teacherEpochs = 10
        @Option(help: "Most validation accuracy (points) the final model may lose against the start (default: 1; with --resume: the run's, or this to go on after a stop).")
        var maxDrop: Double?
        @Option(help: "Run directory to write (created; must not hold a run already).") var out: String?
        @Option(help: ArgumentHelp("Continue the run in this directory.", valueName: "dir")) var resume: String?

        @Option(help: "Importance criterion of sensitivity and pruning: \(PruningCriterion.names).") var criterion = "l1"
        @Option(help: "Ratios of the sensitivity profile.") var ratios = "0.1,0.3,0.5,0.7,0.9"
        @Option(help: "Validation images the sensitivity profile is evaluated on.") var sensitivitySamples = 1000
        @Option(help: "Most any group may lose.") var maxRatio = 0.9
        @Option(help: "Kept widths are multiples of this; 1 for none.") var roundTo = 8
        @Option(help: "Pruning steps to the allocated ratios.") var pruneSteps = 2
        @Option(help: "Epochs of fine-tuning after every pruning step and after a rewrite.") var finetuneEpochs = 2
        @Option(help: "Epochs of a last fine-tuning before quantisation (default: none).") var finalEpochs: Int?
        @Option(help: "With distill: weight α of the teacher term (default: \(DistillationSettings().alpha)).") var alpha: Float?
        @Option(help: "With distill: softmax temperature T (default: \(DistillationSettings().temperature)).") var temperature: Float?
        @Option(help: "Calibration: minmax, percentile=P, entropy or mse.") var method = "minmax"
        @Option(help: "Calibration batches of the training set.") var calibrationBatches = 16
        @OptionGroup var int8: Int8Options
        @Option(help: "Quantisation-aware training after calibration: auto (when int8 is more than --max-drop below the start), always or never.")
        var qat = "auto"
        @Option(help: "Epochs of quantisation-aware training.") var qatEpochs = 1
        @Option(help: "Learning rate of quantisation-aware training (SGD, cosine, no weight decay).") var qatLr: Float = 1e-4
        @Option(help: "Batch of the latency measurements.") var benchBatch = 1
        @Option(help: "Timed runs of each latency measurement (median).") var benchRuns = 50
        @OptionGroup var training: TrainingOptions
        @OptionGroup var folderOptions: ImageFolderOptions
        @Option(help: "Without a terminal, print a progress line every this many batches.") var logEvery = 100
        @Flag(help: "Print report.json at the end instead of the table.") var json = false

        func validate() throws {
            if resume == nil {
                guard model != nil else { throw ValidationError("give a MODEL to compress (or --resume DIR)") }
                guard data != nil else { throw ValidationError("give --data: compression trains, calibrates and measures accuracy on it") }
                guard target != nil else { throw ValidationError("give --target params=N, size=BYTES, macs=N or latency=MS") }
                guard out != nil else { throw ValidationError("give --out DIR for the steps' models and the report") }
            } else if model != nil || target != nil {
                throw ValidationError("--resume continues a run with its own model and target: leave out MODEL and --target")
            }
            if trainTeacher && teacher != nil { throw ValidationError("--train-teacher trains the teacher; --teacher gives one: choose one") }
            guard teacherEpochs >= 1 else { throw ValidationError("--teacher-epochs must be at least 1") }
            guard (maxDrop ?? 0) >= 0 else { throw ValidationError("--max-drop must not be negative") }
            guard benchBatch >= 1, benchRuns >= 1 else { throw ValidationError("--bench-batch and --bench-runs must be positive") }
            guard logEvery > 0 else { throw ValidationError("--log-every must be positive") }
        }

        func run() throws {
            let pipeline: CompressionPipeline
            if let resume {
                let directory = URL(fileURLWithPath: resume)
                let stateFile = directory.appendingPathComponent(CompressionPipeline.stateFile)
                guard FileManager.default.fileExists(atPath: stateFile.path) else {
                    throw CommandError("--resume \(resume): no compression run there (\(stateFile.path) does not exist)")
                }
                let state = try JSONDecoder().decode(CompressionState.self, from: fileContents(stateFile))
                let dataText = data ?? state.configuration.notes["data"] ?? "fashion-mnist"
                let sets = try openData(dataText)
                pipeline = try CompressionPipeline(resuming: directory, trainingSet: sets.train, testSet: sets.test,
                                                   maxDrop: maxDrop.map { $0 / 100 })
                if !json { print("resuming \(resume) after: " + (state.finished.isEmpty ? "nothing" : state.finished.map(\.rawValue).joined(separator: ", "))) }
            } else {
                pipeline = try start()
            }
            try execute(pipeline)
        }

        func start() throws -> CompressionPipeline {
            let sets = try openData(data!)
            let reference = ModelReference(text: model!)
            if !reference.isFile && !trainTeacher {
                throw CommandError("\(model!) is a zoo architecture with untrained weights: add --train-teacher to train it first, "
                                   + "or give a trained .safetensors file")
            }
            var graph = try reference.isFile
                ? reference.graph(input: nil, classes: nil, withParameters: true)
                : reference.graph(input: sets.train.sampleShape, classes: sets.train.classes, withParameters: true, seed: training.seed ?? 0)
            do {
                try Trainer.checkFit(graph, sampleShape: sets.train.sampleShape, classes: sets.train.classes)
            } catch let error as TrainerError {
                throw CommandError("\(model!) does not fit --data \(data!): \(error)")
            }
            if graph.metadata["model"] == nil { graph.metadata["model"] = model! }
            let teacherGraph = try teacher.map { path -> Graph in
                guard FileManager.default.fileExists(atPath: path) else {
                    throw CommandError("--teacher \(path): no such file (a teacher is a trained .safetensors model)")
                }
                return try HintAdapters.student(fromTraining: try ModelFile.load(from: URL(fileURLWithPath: path)))
            }
            let parsedTarget: CompressionTarget
            let parsedRecipe: CompressionRecipe
            do {
                parsedTarget = try CompressionTarget(parsing: target!)
                parsedRecipe = try CompressionRecipe(parsing: recipe)
            } catch {
                throw ValidationError("\(error)")
            }
            var c = CompressionConfiguration(target: parsedTarget, recipe: parsedRecipe)
            c.maxDrop = (maxDrop ?? 1) / 100
            c.teacherEpochs = trainTeacher ? teacherEpochs : nil
            guard let criterion = PruningCriterion(rawValue: criterion) else {
                throw ValidationError("--criterion '\(self.criterion)': use one of \(PruningCriterion.names)")
            }
            c.sensitivity.criterion = criterion
            c.sensitivity.ratios = try parseRatioList(ratios)
            c.sensitivitySamples = sensitivitySamples
            c.allocator.maxRatio = maxRatio
            c.allocator.roundTo = roundTo
            c.pruneSteps = pruneSteps
            c.finetuneEpochs = finetuneEpochs
            c.finalEpochs = finalEpochs
            var base = TrainingConfiguration()
            // A checkpoint's own normalisation (as `pare eval` and `pare quantize` read it), else
            // the data set's preset; --normalize overrides either.
            let checkpoint = reference.isFile ? try TrainingCheckpoint.read(from: URL(fileURLWithPath: model!)).1 : nil
            base.normalization = checkpoint.map { $0.configuration.normalization } ?? sets.spec.defaultNormalization
            base.validationFraction = 0.1
            c.training = try training.apply(to: base, spec: sets.spec)
            if let alpha { c.distillation.alpha = alpha }
            if let temperature { c.distillation.temperature = temperature }
            guard let policy = QATPolicy(rawValue: qat) else { throw ValidationError("--qat '\(qat)': use auto, always or never") }
            c.qat = policy
            c.qatEpochs = qatEpochs
            c.qatLearningRate = qatLr
            c.calibrationMethod = method
            c.calibrationBatches = calibrationBatches
            c.weightBits = int8.resolvedWeightBits()
            c.minimumInt8InputChannels = int8.resolvedMinimumInputChannels()
            if int8.separateResidualAdds { c.fuseResidualAdds = false }
            c.benchmark = LatencyBenchmark.Settings(batch: benchBatch, threads: c.training.threads, warmup: 10, runs: benchRuns)
            c.notes = ["model": model!, "data": data!, "command": CommandLine.arguments.dropFirst().joined(separator: " ")]
            if let teacher { c.notes["teacher"] = teacher }
            do {
                try c.validate()
            } catch let error as CompressionError {
                throw ValidationError(error.description)
            }
            let pipeline = try CompressionPipeline(model: graph, directory: URL(fileURLWithPath: out!), configuration: c,
                                                   trainingSet: sets.train, testSet: sets.test, teacher: teacherGraph)
            if !json {
                print("\(model!) -> \(out!): \(c.target), recipe \(c.recipe), max drop \(maxDrop ?? 1) points; phases "
                      + pipeline.phases.map(\.rawValue).joined(separator: ", ") + "; latency at batch \(benchBatch), \(c.training.threads) threads")
            }
            return pipeline
        }

        func execute(_ pipeline: CompressionPipeline) throws {
            try runCompression(pipeline, logEvery: logEvery, json: json)
        }

        func openData(_ text: String) throws -> (train: any Dataset, test: (any Dataset)?, spec: DatasetSpec) {
            try ImageFolderOptions.openTrainingAndTest(text, size: folderOptions.imageSize ?? 224, skip: folderOptions.skipBadImages, quiet: json)
        }
    }
}
