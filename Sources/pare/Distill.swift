import ArgumentParser
import Foundation
import PareCompress
import PareCore
import PareData
import PareIO
import PareTrain

extension Pare {
    struct Distill: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Train a student against a teacher (knowledge distillation), with everything `pare train` has.",
            discussion: """
                Each batch (augmented as --augment says) goes through the student in training mode and \
                through the teacher in evaluation mode (its own fused inference executor; the teacher \
                is never changed). The student minimises

                  α·T²·KL(softmax(teacher/T) ‖ softmax(student/T)) + (1−α)·CE(student, labels)

                (PyTorch's kl_div(log_softmax(s/T), softmax(t/T), reduction="batchmean")·T², and \
                cross-entropy with --label-smoothing), plus for every --hint TEACHER_NODE=STUDENT_NODE \
                the mean squared error between the teacher node's output and the student node's output \
                through a learned 1x1 convolution (FitNets), times --hint-weight. Both nodes must give \
                feature maps of the same height and width; the adapter trains with the student and is \
                dropped from the final model. It starts random (--hint-init kaiming, FitNets') or as the \
                identity (--hint-init identity, for a student rewritten from the teacher, whose maps \
                have the teacher's channels and already approximate its maps).

                Teacher and student must take the data's images and give its classes. --student is a \
                zoo name (built for the data, weights seeded by --seed) or a .safetensors file (a \
                rewritten or pruned model, say). --out gets what `pare train` writes (last and best \
                checkpoints, metrics.csv, summary.json; with hints they hold the adapters too) and \
                student.safetensors: the best student, adapters removed. `pare distill --resume DIR` \
                continues exactly, with the teacher it started with (checked).

                Examples:
                  pare distill --teacher teacher/best.safetensors --student smallcnn --data fashion-mnist --out kd
                  pare distill --teacher t.safetensors --student small.safetensors --data fashion-mnist \\
                      --alpha 0.9 --temperature 4 --hint layer2.1.bn2=bn2 --out kd
                  pare distill --teacher t.safetensors --student t-dwpw.safetensors --data fashion-mnist \\
                      --hint relu_24=relu_24 --hint relu_47=relu_47 --hint-init identity --out kd
                  pare distill --teacher t.safetensors --student smallcnn --data fashion-mnist \\
                      --optimizer adamw --epochs 10 --then sgd:epochs=5,lr=1e-3 --out kd   (the seed's recipe)
                """)

        static let defaults = DistillationSettings()

        @Option(help: ArgumentHelp("The teacher: a native .safetensors model (with --resume: the run's).", valueName: "file"))
        var teacher: String?
        @Option(help: ArgumentHelp("The student: a zoo name or a .safetensors model file (with --resume: the run's).",
                                   valueName: "model|file"))
        var student: String?
        @Option(help: "Data set: \(DatasetSpec.acceptedForms.joined(separator: ", ")) (with --resume: the run's).")
        var data: String?
        @Option(help: "Run directory to write (created; must not hold a run already).")
        var out: String?
        @Option(help: ArgumentHelp("Continue the run in this directory from its last.safetensors.", valueName: "dir"))
        var resume: String?
        @Option(help: "Epochs (of the first phase, with --then) (default: \(TrainingOptions.defaults.epochs)).") var epochs: Int?
        @Option(help: "Weight α of the teacher term, in [0, 1] (default: \(defaults.alpha)).") var alpha: Float?
        @Option(help: "Temperature T of both softmaxes in the teacher term (default: \(defaults.temperature)).")
        var temperature: Float?
        @Option(name: .customLong("hint"), help: ArgumentHelp("A feature hint TEACHER_NODE=STUDENT_NODE (repeatable); `pare summary` lists node names.", valueName: "pair"))
        var hints: [String] = []
        @Option(help: "Weight of each hint's mean squared error (default: \(defaults.hintWeight)).") var hintWeight: Float?
        @Option(help: ArgumentHelp("How hint adapters start: kaiming (random) or identity (needs equal channel counts) "
                                   + "(default: \(defaults.hintInitialisation.rawValue)).", valueName: "kaiming|identity"))
        var hintInit: HintInitialisation?
        @Option(help: "Width multiplier of a zoo student that has one (mobilenet_v2, mobilenet_v2-cifar, mobilenet_v3_large, mobilenet_v3_small, smallcnn).")
        var widthMultiplier: Double?
        @OptionGroup var training: TrainingOptions
        @OptionGroup var folderOptions: ImageFolderOptions
        @Option(help: "Without a terminal, print a progress line every this many batches.") var logEvery = 100
        @Flag(help: "Print the final summary as JSON (with the teacher's test accuracy).") var json = false

        func validate() throws {
            if resume == nil {
                guard teacher != nil else { throw ValidationError("give --teacher FILE (or --resume DIR)") }
                guard student != nil else { throw ValidationError("give --student MODEL|FILE (or --resume DIR)") }
                guard data != nil else { throw ValidationError("give --data (or --resume DIR)") }
                guard out != nil else { throw ValidationError("give --out DIR for the checkpoints and metrics") }
            } else if let out, let resume, URL(fileURLWithPath: out).standardized != URL(fileURLWithPath: resume).standardized {
                throw ValidationError("--out must be the --resume directory (or left out)")
            }
            guard logEvery > 0 else { throw ValidationError("--log-every must be positive") }
        }

        /// The distillation settings: `base` with the options given.
        func settings(_ base: DistillationSettings) throws -> DistillationSettings {
            var s = base
            if let alpha { s.alpha = alpha }
            if let temperature { s.temperature = temperature }
            if !hints.isEmpty { s.hints = try hints.map(FeatureHint.init(parsing:)) }
            if let hintWeight { s.hintWeight = hintWeight }
            if let hintInit { s.hintInitialisation = hintInit }
            try s.validate()
            return s
        }

        func run() throws {
            let trainer: Trainer, objective: DistillationObjective, test: (any Dataset)?
            if let resume {
                let resumed = try ResumedRun(resume, data: data, folderOptions: folderOptions, quiet: json)
                let notes = resumed.notes
                guard let savedSettings = notes["distillation"].flatMap({ try? JSONDecoder().decode(DistillationSettings.self, from: Data($0.utf8)) }),
                      let teacherPath = teacher ?? notes["teacher"] else {
                    throw CommandError("\(RunDirectory(resumed.directory).last.path) is not a distillation run (no teacher in its notes): "
                                       + "resume it with `pare train --resume`")
                }
                if let student, student != notes["student"] { throw CommandError("the run in \(resume) distilled into \(notes["student"] ?? "?"), not \(student)") }
                test = resumed.test
                var configuration = try training.apply(to: resumed.saved.configuration, spec: resumed.spec)
                if let epochs { configuration.epochs = epochs }
                configuration.notes["data"] = resumed.dataText
                objective = try DistillationObjective(teacher: try loadTeacher(teacherPath), settings: try settings(savedSettings),
                                                      threads: configuration.threads)
                trainer = try Trainer(resuming: resumed.directory, trainingSet: resumed.train, testSet: resumed.test,
                                      configuration: configuration, objective: objective)
                if !json { print("resuming \(resume) after epoch \(trainer.state.completedEpochs) of \(configuration.totalEpochs)") }
            } else {
                let size = folderOptions.imageSize ?? 224
                let (train, testSet, spec) = try ImageFolderOptions.openTrainingAndTest(data!, size: size, skip: folderOptions.skipBadImages,
                                                                                       quiet: json)
                test = testSet
                var base = TrainingOptions.defaults
                base.normalization = spec.defaultNormalization
                if let epochs { base.epochs = epochs }
                var configuration = try training.apply(to: base, spec: spec)
                let chosen = try settings(Self.defaults)
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.sortedKeys]
                configuration.notes = ["student": student!, "teacher": teacher!, "data": data!,
                                       "distillation": String(decoding: try encoder.encode(chosen), as: UTF8.self)]
                if case .folder = spec {
                    configuration.notes["image-size"] = String(size)
                    if folderOptions.skipBadImages { configuration.notes["skip-bad-images"] = "true" }
                }
                let teacherGraph = try loadTeacher(teacher!)
                objective = try DistillationObjective(teacher: teacherGraph, settings: chosen, threads: configuration.threads)
                try objective.check(graph: teacherGraph, sampleShape: train.sampleShape, classes: train.classes)
                let reference = ModelReference(text: student!)
                let studentGraph = try reference.isFile
                    ? reference.graph(input: nil, classes: nil, withParameters: true, widthMultiplier: widthMultiplier)
                    : reference.graph(input: train.sampleShape, classes: train.classes, withParameters: true, seed: configuration.seed,
                                      widthMultiplier: widthMultiplier)
                let graph = try objective.trainingGraph(student: studentGraph, seed: configuration.seed)
                trainer = try Trainer(graph: graph, trainingSet: train, testSet: testSet, configuration: configuration,
                                      directory: URL(fileURLWithPath: out!), objective: objective)
                if !json {
                    let studentParameters = try studentGraph.trainableParameterCount()
                    let teacherParameters = try teacherGraph.trainableParameterCount()
                    print("student \(student!): \(grouped(Double(studentParameters))) parameters; teacher \(teacher!): "
                          + "\(grouped(Double(teacherParameters))) (\(String(format: "%.1f", Double(teacherParameters) / Double(max(studentParameters, 1))))x); "
                          + "data \(data!): \(train.count) training images \(train.sampleShape), \(testSet.map { "\($0.count) test" } ?? "no test set")")
                    print("loss: \(chosen.alpha)·T²·KL(teacher/T ‖ student/T) + \(String(format: "%g", 1 - chosen.alpha))·CE, T = \(chosen.temperature)"
                          + chosen.hints.map { " + \(chosen.hintWeight)·MSE(\($0.teacherNode), adapter(\($0.studentNode)))" }.joined()
                          + (chosen.hints.isEmpty ? "" : " (adapters start \(chosen.hintInitialisation.rawValue))"))
                    print(describeSettings(configuration))
                }
            }
            // The teacher's own accuracy, so that the student's can be read against it.
            var teacherTest: EvaluationResult?
            if let test {
                teacherTest = try Evaluator(graph: objective.teacher, batchSize: trainer.configuration.batchSize,
                                            threads: trainer.configuration.threads)
                    .evaluate(test, transforms: trainer.configuration.normalization.map { [$0] } ?? [])
                if !json { print(String(format: "teacher test accuracy %.2f%%", teacherTest!.top1 * 100)) }
            }
            let display = TrainingDisplay(logEvery: logEvery)
            if !json { trainer.onEvent = display.handle }
            let summary = try runReportingStops(trainer)
            let studentFile = trainer.directory.url.appendingPathComponent("student.safetensors")
            // The best epoch's student, adapters removed, with the run's settings (normalisation,
            // data) kept, so that `pare eval` and `pare compare` evaluate it as it was trained.
            let (best, bestState, _) = try TrainingCheckpoint.read(from: trainer.directory.best)
            let student = try HintAdapters.student(fromTraining: best)
            if let bestState {
                try bestState.file(graph: student, optimizerState: [:]).write(to: studentFile)
            } else {
                try ModelFile.save(student, to: studentFile)
            }
            if json {
                struct Output: Encodable {
                    var summary: TrainingSummary
                    var teacherTestAccuracy: Double?
                    var student: String
                }
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
                print(String(decoding: try encoder.encode(Output(summary: summary, teacherTestAccuracy: teacherTest?.top1,
                                                                 student: studentFile.path)), as: UTF8.self))
            } else {
                printTrainingFooter(summary, directory: trainer.directory, extraFiles: ["student.safetensors (the best student)"])
            }
        }

        func loadTeacher(_ path: String) throws -> Graph {
            guard FileManager.default.fileExists(atPath: path) else {
                throw CommandError("--teacher \(path): no such file (a teacher is a trained .safetensors model, e.g. a run's best.safetensors)")
            }
            return try HintAdapters.student(fromTraining: try ModelFile.load(from: URL(fileURLWithPath: path)))
        }
    }
}

extension HintInitialisation: ExpressibleByArgument {}
