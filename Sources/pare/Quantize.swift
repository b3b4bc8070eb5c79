import ArgumentParser
import Foundation
import PareAnalysis
import PareCompress
import PareCore
import PareData
import PareIO
import PareTrain

extension Pare {
    struct Quantize: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Quantise a model to int8 (post-training calibration): int8 weights on disk, int8 kernels at run time.",
            discussion: """
                Folds batch norms into the convolutions before them, stores every convolution and \
                linear layer's weights as per-output-channel symmetric int8 with f32 scales, and \
                calibrates a scale for every activation that stays int8 between layers, on \
                --calibration-batches batches drawn (seeded) from --data's training split, never \
                its test split. Methods: minmax (largest magnitude), percentile=P (the P-th \
                percentile of magnitudes), entropy (TensorRT's KL-divergence search over a \
                2048-bin histogram), mse (least squared rounding-and-clipping error).

                The result is one .safetensors file with I8 weights (about a quarter of the f32 \
                file) that `pare eval`, `pare bench`, `pare run`, `pare summary` and `pare \
                compare` take like any model; it runs on oneDNN's u8/s8 int8 primitives with \
                ReLU/ReLU6 and residual adds fused (an add after a convolution is its sum post-op) and activations kept int8 between layers. Ops without an int8 \
                kernel (sigmoid, hard-swish, softmax, unfolded batch norm) run in f32 and are \
                listed. Without VNNI (AVX2 only) the default is 7-bit weights: AVX2's \
                vpmaddubsw adds two u8 x s8 products into a saturating 16-bit lane, which 8-bit \
                weights can overflow (onnxruntime's reduce_range does the same). Without VNNI, \
                convolutions with fewer than 4 input channels (an image's first layer) also stay \
                f32 by default: oneDNN's int8 kernel pads them to 4 channels and runs them slower \
                than its f32 one (--int8-min-channels 1 quantises them anyway).

                Quantisation-aware training: --qat-epochs E (with --data) then fine-tunes the model \
                for E epochs with the int8 rounding in its forward pass, starting from the \
                calibrated ranges (batch norms folded first, so the forward is the int8 \
                model's): weights fake-quantised per output channel, activations per tensor at \
                the points above with moving-average ranges (momentum 0.01 of each batch's \
                minimum and maximum), the straight-through estimator in the backward pass. SGD \
                (momentum 0.9, no weight decay, cosine schedule) at --qat-lr, batches and \
                augmentation of the checkpoint's run; the best epoch (by the run's validation \
                split, else the test split) becomes the int8 file. It prints each epoch as \
                `pare train` does, and the test accuracy of the post-training int8 model and of \
                the int8 file written. --qat-run DIR keeps the run (resumable with `pare train \
                --resume DIR`); without it the run lives in a temporary folder.

                Examples:
                  pare quantize run/best.safetensors --out m-int8.safetensors --eval
                  pare quantize run/best.safetensors --data fashion-mnist --qat-epochs 1 --out m-qat.safetensors --eval
                  pare quantize m.safetensors --data fashion-mnist --method entropy --keep-fp32 conv1,fc --out q.safetensors
                """)

        @Argument(help: "Model or checkpoint .safetensors file (f32); a zoo name with --synthetic.") var model: String
        @Option(help: "Calibration data: \(DatasetSpec.acceptedForms.joined(separator: ", ")) (default: the checkpoint's).")
        var data: String?
        @Option(help: "Calibration batches, drawn from the training split.") var calibrationBatches = 16
        @Option(help: "Calibration batch size.") var batch = 32
        @Option(help: "Calibration: minmax, percentile=P (e.g. percentile=99.99), entropy or mse.") var method = "minmax"
        @Option(name: .customLong("keep-fp32"), help: ArgumentHelp("Convolutions or linear layers to keep in f32, comma-separated.",
                                                                   valueName: "names"))
        var keepFloat: String?
        @OptionGroup var int8: Int8Options
        @Option(help: "Normalisation of the calibration images: \(Normalize.presets.keys.sorted().joined(separator: ", ")), none or default (default: the checkpoint's, else the data set's preset).")
        var normalize: String?
        @Option(help: "Seed of the calibration sample.") var seed: UInt64 = 0
        @Option(help: "Threads.") var threads = 2
        @Option(help: ArgumentHelp("Instead of int8: store the f32 weights in fp16 or bf16 (half the file, computed in f32; no calibration).",
                                   valueName: "fp16|bf16"))
        var weights: String?
        @Flag(help: "Also evaluate the f32 and the int8 model on the test split.") var eval = false
        @Option(help: ArgumentHelp("Quantisation-aware training: fine-tune with fake quantisation for this many epochs after calibrating (needs --data; 0: none).",
                                   valueName: "E"))
        var qatEpochs: Int?
        @Option(help: "Learning rate of quantisation-aware training (SGD, cosine): small, the model is trained already.") var qatLr: Float = 1e-4
        @Option(help: ArgumentHelp("Run directory of quantisation-aware training, kept (default: a temporary one).", valueName: "dir"))
        var qatRun: String?
        @Flag(help: ArgumentHelp("Calibrate on seeded random images instead of data (for latency measurements: the accuracy of such a model means nothing).",
                                 discussion: "MODEL may then be a zoo name (random weights, --seed)."))
        var synthetic = false
        @OptionGroup var folderOptions: ImageFolderOptions
        @Option(help: ArgumentHelp("The int8 model file to write.", valueName: "file.safetensors")) var out: String
        @Flag(help: "Print JSON instead of text.") var json = false

        func validate() throws {
            guard calibrationBatches > 0, batch > 0, threads > 0 else {
                throw ValidationError("--calibration-batches, --batch and --threads must be positive")
            }
            if synthetic && (eval || data != nil) { throw ValidationError("--synthetic calibrates without data: drop --data and --eval") }
            if let weights, !["fp16", "bf16"].contains(weights) { throw ValidationError("--weights must be fp16 or bf16, got '\(weights)'") }
            if weights != nil && synthetic { throw ValidationError("--weights needs no calibration: drop --synthetic") }
            if let qatEpochs {
                guard qatEpochs >= 0 else { throw ValidationError("--qat-epochs must not be negative, got \(qatEpochs)") }
                guard data != nil else {
                    throw ValidationError("--qat-epochs trains on data: give --data (its training split fine-tunes, its test split measures)")
                }
                if synthetic || weights != nil { throw ValidationError("--qat-epochs trains an int8 model: drop --synthetic and --weights") }
            }
            guard qatLr > 0, qatLr.isFinite else { throw ValidationError("--qat-lr must be positive, got \(qatLr)") }
            if qatRun != nil && (qatEpochs ?? 0) == 0 { throw ValidationError("--qat-run needs --qat-epochs") }
        }

        struct Report: Encodable {
            var model: String
            var out: String
            var data: String
            var isa: String
            var quantization: QuantizationReport
            var fileBytesBefore: Int
            var fileBytesAfter: Int
            var fileRatio: Double
            var testAccuracyBefore: Double?
            var testAccuracyAfter: Double?
            var qat: QATReport?
        }

        /// What quantisation-aware training did.
        struct QATReport: Encodable {
            var epochs: Int
            var learningRate: Float
            var runDirectory: String?
            /// Test accuracy of the post-training int8 model it started from, and of the int8 file written.
            var postTrainingTestAccuracy: Double
            var testAccuracy: Double
            var training: TrainingSummary
        }

        func run() throws {
            let url = URL(fileURLWithPath: model)
            let reference = ModelReference(text: model)
            if !(synthetic && !reference.isFile) {
                guard FileManager.default.fileExists(atPath: url.path) else { throw CommandError("no such model file: \(model)") }
            }
            let outURL = URL(fileURLWithPath: out)
            // Before the slow part: a missing output folder is made, an unwritable one named.
            do {
                try FileManager.default.createDirectory(at: outURL.deletingLastPathComponent(), withIntermediateDirectories: true)
            } catch {
                throw CommandError("cannot create the folder of --out \(out): \(error.localizedDescription)")
            }
            if synthetic { return try runSynthetic(reference, outURL: outURL) }
            let (graph, checkpoint, _) = try TrainingCheckpoint.read(from: url)
            if let node = graph.nodes.first(where: { $0.quantization != nil }) {
                throw CommandError("\(model) is already quantised (node '\(node.name)' is int8); quantise the f32 model it came from")
            }
            if let weights { return try runHalfPrecision(graph, checkpoint: checkpoint, dtype: weights == "fp16" ? .f16 : .bf16, outURL: outURL) }
            let source = try CheckpointData(data: data, normalize: normalize, folderOptions: folderOptions, checkpoint: checkpoint,
                                            file: model, purpose: "for calibration")
            let dataText = source.text
            let train = try source.open(.train, quiet: json)
            do {
                try Trainer.checkFit(graph, sampleShape: train.sampleShape, classes: train.classes)
            } catch {
                throw CommandError("calibration data \(dataText) does not fit \(model): \(error)")
            }
            let transforms = source.transforms

            // Seeded batches of the training split.
            // The loader's epoch (and its prefetching threads) ends before anything runs.
            let batches = try { () throws -> [Tensor] in
                let epoch = DataLoader(train, batchSize: batch, shuffle: true, seed: seed, transforms: transforms).epoch(0)
                var batches: [Tensor] = []
                while batches.count < calibrationBatches, let next = try epoch.next() { batches.append(next.images) }
                return batches
            }()
            let features = CPUFeatures.current()
            let bits = int8.resolvedWeightBits(features)
            if let qatEpochs, qatEpochs > 0 {
                return try runQuantizationAware(graph, checkpoint: checkpoint, source: source, train: train, batches: batches,
                                                bits: bits, epochs: qatEpochs, outURL: outURL, isa: features.isa)
            }
            let (quantized, report) = try quantize(graph, batches: batches, bits: bits)
            let result = try write(quantized, checkpoint: checkpoint, to: outURL)
            let before = try ModelFile.encodedByteCount(graph)
            let after = (try FileManager.default.attributesOfItem(atPath: outURL.path)[.size] as? Int) ?? 0

            var accuracyBefore: Double?, accuracyAfter: Double?
            if eval {
                let test = try source.open(.test, quiet: json)
                accuracyBefore = try Evaluator(graph: graph, batchSize: 256, threads: threads).evaluate(test, transforms: transforms).top1
                accuracyAfter = try Evaluator(graph: result, batchSize: 256, threads: threads).evaluate(test, transforms: transforms).top1
            }
            let output = Report(model: model, out: out, data: dataText, isa: features.isa, quantization: report,
                                fileBytesBefore: before, fileBytesAfter: after, fileRatio: Double(after) / Double(max(before, 1)),
                                testAccuracyBefore: accuracyBefore, testAccuracyAfter: accuracyAfter)
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
                encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
                print(String(decoding: try encoder.encode(output), as: UTF8.self))
                return
            }
            print("\(model) -> \(out): int8, \(report.method) calibration on \(report.calibrationSamples) training images "
                  + "(\(report.calibrationBatches) batches of \(dataText)), \(bits)-bit per-channel weights (\(features.isa))")
            if !report.foldedBatchNorms.isEmpty { print("folded \(report.foldedBatchNorms.count) batch norms into their convolutions") }
            print("\(report.int8Layers) convolution/linear layers in int8" + (report.floatLayers.isEmpty ? "" : ", kept in f32:"))
            for layer in report.floatLayers { print("  \(layer.name) (\(layer.kind)): \(layer.note ?? "")") }
            let others = report.layers.filter { $0.precision == "f32" && $0.kind != "conv2d" && $0.kind != "linear" && $0.kind != "input" }
            if !others.isEmpty {
                print("in f32: " + others.map { "\($0.name) (\($0.kind): \($0.note ?? ""))" }.joined(separator: "; "))
            }
            print(String(format: "file: %@ -> %@ bytes (%.3f of the f32 file)", groupedDigits(before), groupedDigits(after),
                         output.fileRatio))
            if let accuracyBefore, let accuracyAfter {
                print(String(format: "test accuracy: f32 %.2f%%, int8 %.2f%% (%+.2f points)", accuracyBefore * 100,
                             accuracyAfter * 100, (accuracyAfter - accuracyBefore) * 100))
            }
        }

        /// The post-training settings the command's options say.
        func settings(bits: Int) throws -> QuantizationSettings {
            QuantizationSettings(method: try CalibrationMethod(parsing: method), weightBits: bits,
                                 keepFloat: keepFloat.map { $0.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) } } ?? [],
                                 minimumInputChannels: int8.resolvedMinimumInputChannels(),
                                 threads: threads, fuseResidualAdds: !int8.separateResidualAdds)
        }

        /// Runs `body` with a calibration progress line (on a terminal); quantisation errors
        /// become command errors.
        func calibrating<T>(_ count: Int, _ body: ((Int, Int, Int) -> Void) throws -> T) throws -> T {
            let terminal = isatty(STDERR_FILENO) != 0 && !json
            defer { if terminal { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) } }
            do {
                return try body { pass, k, passes in
                    if terminal {
                        FileHandle.standardError.write(Data("\rcalibrating: pass \(pass)/\(passes), batch \(k + 1)/\(count)".utf8))
                    }
                }
            } catch let error as QuantizationError {
                throw CommandError("\(error)")
            }
        }

        /// Writes the int8 `graph` to `url` with the command line in its metadata, keeping the
        /// f32 checkpoint's run settings (normalisation, data) so that `pare eval` and `pare
        /// compare` evaluate it as the f32 model was trained; returns what was written.
        @discardableResult
        func write(_ graph: Graph, checkpoint: TrainingCheckpoint?, to url: URL) throws -> Graph {
            var result = graph
            result.metadata["quantize"] = CommandLine.arguments.dropFirst().joined(separator: " ")
            if let checkpoint {
                try checkpoint.file(graph: result, optimizerState: [:]).write(to: url)
            } else {
                try ModelFile.save(result, to: url)
            }
            return result
        }

        /// Post-training quantisation with the command's settings, showing progress.
        func quantize(_ graph: Graph, batches: [Tensor], bits: Int) throws -> (Graph, QuantizationReport) {
            let quantizer = PostTrainingQuantizer(settings: try settings(bits: bits))
            return try calibrating(batches.count) { try quantizer.quantize(graph, calibration: batches, progress: $0) }
        }

        /// `--qat-epochs E`: calibration, then E epochs of quantisation-aware training (a run of
        /// the ordinary trainer), then the int8 file of its best epoch.
        func runQuantizationAware(_ graph: Graph, checkpoint: TrainingCheckpoint?, source: CheckpointData, train: any Dataset,
                                  batches: [Tensor], bits: Int, epochs: Int, outURL: URL, isa: String) throws {
            let qat = QuantizationAwareTraining(settings: try settings(bits: bits))
            let start = try calibrating(batches.count) { try qat.prepare(graph, calibration: batches, progress: $0) }
            let test = try source.open(.test, quiet: json)
            let transforms = source.transforms
            let postTrainingAccuracy = try Evaluator(graph: start.postTraining, batchSize: 256, threads: threads)
                .evaluate(test, transforms: transforms).top1
            if !json {
                print("\(model): \(start.report.int8Layers) int8 layers, \(start.report.method) calibration on "
                      + "\(start.report.calibrationSamples) training images, \(bits)-bit per-channel weights (\(isa))")
                print(String(format: "post-training int8 test accuracy %.2f%%; quantisation-aware training for %d epoch(s) at lr %g",
                             postTrainingAccuracy * 100, epochs, qatLr))
            }
            // The checkpoint's run (batches, augmentation, normalisation, validation split),
            // re-aimed at fine-tuning.
            var configuration = checkpoint?.configuration ?? TrainingConfiguration()
            configuration.normalization = source.normalization
            configuration.epochs = epochs
            configuration.learningRate = qatLr
            configuration.optimizer = .sgd
            configuration.momentum = 0.9
            configuration.nesterov = false
            configuration.weightDecay = 0
            configuration.schedule = "cosine"
            configuration.warmupSteps = 0
            configuration.laterPhases = []
            configuration.accumulationSteps = 1
            configuration.bnSparsity = 0
            configuration.threads = threads
            configuration.seed = seed
            configuration.fakeQuantization = start.plan
            configuration.notes = ["model": model, "data": source.text, "qat": "pare quantize --qat-epochs"]
            let temporary = qatRun == nil
            let runURL = qatRun.map { URL(fileURLWithPath: $0) }
                ?? FileManager.default.temporaryDirectory.appendingPathComponent("pare-qat-\(UUID().uuidString)")
            defer { if temporary { try? FileManager.default.removeItem(at: runURL) } }
            let trainer = try Trainer(graph: start.graph, trainingSet: train, testSet: test, configuration: configuration,
                                      directory: runURL)
            if !json { trainer.onEvent = TrainingDisplay(logEvery: 100).handle }
            let summary = try runReportingStops(trainer)
            let conversion = try QuantizationAwareTraining.convert(checkpoint: trainer.directory.best)
            var report = conversion.report
            try write(conversion.graph, checkpoint: checkpoint, to: outURL)
            let before = try ModelFile.encodedByteCount(graph)
            let after = (try FileManager.default.attributesOfItem(atPath: outURL.path)[.size] as? Int) ?? 0
            // Measured on the file written: the int8 artefact itself.
            let written = try ModelFile.load(from: outURL)
            let accuracy = try Evaluator(graph: written, batchSize: 256, threads: threads).evaluate(test, transforms: transforms).top1
            let floatAccuracy = eval ? try Evaluator(graph: graph, batchSize: 256, threads: threads).evaluate(test, transforms: transforms).top1 : nil
            report.foldedBatchNorms = start.report.foldedBatchNorms
            report.calibrationBatches = start.report.calibrationBatches
            report.calibrationSamples = start.report.calibrationSamples
            let output = Report(model: model, out: out, data: source.text, isa: isa, quantization: report,
                                fileBytesBefore: before, fileBytesAfter: after, fileRatio: Double(after) / Double(max(before, 1)),
                                testAccuracyBefore: floatAccuracy, testAccuracyAfter: accuracy,
                                qat: QATReport(epochs: epochs, learningRate: qatLr, runDirectory: temporary ? nil : runURL.path,
                                               postTrainingTestAccuracy: postTrainingAccuracy, testAccuracy: accuracy,
                                               training: summary))
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
                encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
                print(String(decoding: try encoder.encode(output), as: UTF8.self))
                return
            }
            print("\(model) -> \(out): int8 after \(epochs) epoch(s) of quantisation-aware training (best epoch \(summary.bestEpoch ?? 0))")
            print(String(format: "file: %@ -> %@ bytes (%.3f of the f32 file)", groupedDigits(before), groupedDigits(after),
                         output.fileRatio))
            if let floatAccuracy { print(String(format: "test accuracy: f32 %.2f%%", floatAccuracy * 100)) }
            print(String(format: "test accuracy: post-training int8 %.2f%%, quantisation-aware int8 %.2f%% (%+.2f points)",
                         postTrainingAccuracy * 100, accuracy * 100, (accuracy - postTrainingAccuracy) * 100))
            if !temporary { print("run kept in \(runURL.path) (pare train --resume \(runURL.path) continues it)") }
        }

        /// `--weights fp16|bf16`: the same model with its f32 tensors stored at half size.
        func runHalfPrecision(_ graph: Graph, checkpoint: TrainingCheckpoint?, dtype: DType, outURL: URL) throws {
            let file = try checkpoint?.file(graph: graph, optimizerState: [:]) ?? ModelFile.encode(graph, source: out)
            try ModelFile.halfPrecision(file, dtype: dtype).write(to: outURL)
            let before = try ModelFile.encodedByteCount(graph)
            let after = (try FileManager.default.attributesOfItem(atPath: outURL.path)[.size] as? Int) ?? 0
            var accuracy: (Double, Double)?
            if eval {
                let source = try CheckpointData(data: data, normalize: normalize, folderOptions: folderOptions, checkpoint: checkpoint,
                                                file: model, purpose: "for --eval")
                let test = try source.open(.test, quiet: json)
                let transforms = source.transforms
                let reloaded = try ModelFile.load(from: outURL)
                accuracy = (try Evaluator(graph: graph, batchSize: 256, threads: threads).evaluate(test, transforms: transforms).top1,
                            try Evaluator(graph: reloaded, batchSize: 256, threads: threads).evaluate(test, transforms: transforms).top1)
            }
            if json {
                struct Output: Encodable {
                    var model: String, out: String, weights: String
                    var fileBytesBefore: Int, fileBytesAfter: Int, fileRatio: Double
                    var testAccuracyBefore: Double?, testAccuracyAfter: Double?
                }
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
                print(String(decoding: try encoder.encode(Output(model: model, out: out, weights: dtype.rawValue, fileBytesBefore: before,
                                                                 fileBytesAfter: after, fileRatio: Double(after) / Double(max(before, 1)),
                                                                 testAccuracyBefore: accuracy?.0, testAccuracyAfter: accuracy?.1)),
                             as: UTF8.self))
                return
            }
            print("\(model) -> \(out): weights stored in \(dtype.rawValue), computed in f32")
            print(String(format: "file: %@ -> %@ bytes (%.3f of the f32 file)", groupedDigits(before), groupedDigits(after),
                         Double(after) / Double(max(before, 1))))
            if let (a, b) = accuracy {
                print(String(format: "test accuracy: f32 %.2f%%, %@ weights %.2f%% (%+.2f points)", a * 100, dtype.rawValue, b * 100, (b - a) * 100))
            }
        }

        /// `--synthetic`: seeded N(0, 1) images of the model's input shape.
        func runSynthetic(_ reference: ModelReference, outURL: URL) throws {
            let graph = try reference.graph(input: nil, classes: nil, withParameters: true, seed: seed)
            let inputs = graph.inputIndices
            guard inputs.count == 1, case let .input(shape) = graph.nodes[inputs[0]].op else {
                throw CommandError("\(model) has \(inputs.count) inputs; calibration feeds one")
            }
            var generator = SeededGenerator(seed: seed &+ 1)
            let batches = (0..<calibrationBatches).map { _ in
                Tensor.randomNormal(Shape([batch] + shape.dimensions), std: 1, generator: &generator)
            }
            let features = CPUFeatures.current()
            let bits = int8.resolvedWeightBits(features)
            var (result, report) = try quantize(graph, batches: batches, bits: bits)
            result.metadata["quantize"] = CommandLine.arguments.dropFirst().joined(separator: " ")
            if result.metadata["model"] == nil { result.metadata["model"] = model }
            try ModelFile.save(result, to: outURL)
            let before = try ModelFile.encodedByteCount(graph)
            let after = (try FileManager.default.attributesOfItem(atPath: outURL.path)[.size] as? Int) ?? 0
            if json {
                let output = Report(model: model, out: out, data: "synthetic", isa: features.isa, quantization: report,
                                    fileBytesBefore: before, fileBytesAfter: after, fileRatio: Double(after) / Double(max(before, 1)),
                                    testAccuracyBefore: nil, testAccuracyAfter: nil)
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
                print(String(decoding: try encoder.encode(output), as: UTF8.self))
                return
            }
            print("\(model) -> \(out): int8 calibrated on \(report.calibrationSamples) synthetic images (latency only), "
                  + "\(report.int8Layers) int8 layers, \(bits)-bit weights (\(features.isa))")
            for layer in report.floatLayers { print("  kept in f32: \(layer.name) (\(layer.kind)): \(layer.note ?? "")") }
            print(String(format: "file: %@ -> %@ bytes (%.3f of the f32 file)", groupedDigits(before), groupedDigits(after),
                         Double(after) / Double(max(before, 1))))
        }
    }
}
