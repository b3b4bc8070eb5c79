import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import PareAnalysis
import PareCore
import PareData
import PareIO
import PareModels
import PareTrain
import XCTest

@testable import PareCompress

/// Targets, the sensitivity profile, the allocator, and the whole `pare compress` pipeline:
/// files, report, resume, and the stops.
final class CompressionPipelineTests: XCTestCase {
    private var directories: [URL] = []
    override func tearDown() {
        for url in directories { try? FileManager.default.removeItem(at: url) }
    }
    private func temporary() -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("pare-compress-\(UUID().uuidString)")
        directories.append(url)
        return url
    }

    private func model(seed: UInt64 = 2) throws -> Graph {
        var b = GraphBuilder()
        var x = b.input([1, 12, 12])
        x = b.relu(b.batchNorm(b.conv2d(x, "conv1", outChannels: 16, kernelSize: 3, padding: 1, bias: false), "bn1"))
        x = b.relu(b.batchNorm(b.conv2d(x, "conv2", outChannels: 16, kernelSize: 3, padding: 1, bias: false), "bn2"))
        x = b.relu(b.linear(b.flatten(b.avgPool(x, kernelSize: 3)), "fc1", outFeatures: 32))
        x = b.linear(x, "fc2", outFeatures: 4)
        return try b.build(outputs: [x], seed: seed)
    }

    // MARK: Target

    func testTargetParsesCountsSizesAndLatencies() throws {
        XCTAssertEqual(try CompressionTarget(parsing: "params=25k"), .parameters(25000))
        XCTAssertEqual(try CompressionTarget(parsing: "params=1.5M"), .parameters(1_500_000))
        XCTAssertEqual(try CompressionTarget(parsing: "size=30KB"), .bytes(30000))
        XCTAssertEqual(try CompressionTarget(parsing: "size=2KiB"), .bytes(2048))
        XCTAssertEqual(try CompressionTarget(parsing: "size=1200"), .bytes(1200))
        XCTAssertEqual(try CompressionTarget(parsing: "macs=2G"), .macs(2_000_000_000))
        XCTAssertEqual(try CompressionTarget(parsing: "latency=0.25ms"), .latency(milliseconds: 0.25))
        XCTAssertEqual(try CompressionTarget(parsing: "latency=3"), .latency(milliseconds: 3))
        for bad in ["params", "params=", "params=-3", "size=lots", "speed=2", "latency=0ms"] {
            XCTAssertThrowsError(try CompressionTarget(parsing: bad), bad) { error in
                XCTAssertTrue("\(error)".contains("--target"), "\(bad): \(error)")
            }
        }
        let figures = ModelFigures(parameters: 100, macs: 1000, fileBytes: 500, latencyMilliseconds: 0.5)
        XCTAssertTrue(CompressionTarget.parameters(100).isMet(by: figures))
        XCTAssertFalse(CompressionTarget.parameters(99).isMet(by: figures))
        XCTAssertFalse(CompressionTarget.bytes(499).isMet(by: figures))
        XCTAssertTrue(CompressionTarget.latency(milliseconds: 0.6).isMet(by: figures))
    }

    func testRecipeParsing() throws {
        XCTAssertEqual(try CompressionRecipe(parsing: "prune,distill,quantize"), CompressionRecipe())
        XCTAssertEqual(try CompressionRecipe(parsing: "quantize,prune"), CompressionRecipe(prunes: true, distills: false, quantizes: true))
        XCTAssertEqual(try CompressionRecipe(parsing: "prune,dwpw,distill").rewrite, "dwpw")
        XCTAssertThrowsError(try CompressionRecipe(parsing: "prune,svd,tucker"))
        XCTAssertThrowsError(try CompressionRecipe(parsing: "prune,shrink")) { XCTAssertTrue("\($0)".contains("unknown step 'shrink'")) }
        var c = CompressionConfiguration(target: .parameters(10), recipe: CompressionRecipe(prunes: false, distills: true, quantizes: true))
        XCTAssertThrowsError(try c.validate()) { XCTAssertTrue("\($0)".contains("distill")) }
        c.recipe = CompressionRecipe()
        c.weightBits = 6
        XCTAssertThrowsError(try c.validate()) { XCTAssertTrue("\($0)".contains("--weight-bits")) }
    }

    // MARK: Sensitivity

    func testSensitivityProfileIsEachGroupPrunedAlone() throws {
        let graph = try trained()
        let evaluation = quadrants(count: 96, seed: 5)
        var settings = SensitivityAnalysis.Settings()
        settings.ratios = [0.25, 0.75]
        settings.roundTo = 1
        var seen = 0
        let profile = try SensitivityAnalysis.run(graph, evaluation: evaluation, subset: "test", transforms: [], settings: settings) { _ in
            seen += 1
        }
        // conv1, conv2 and fc1 are prunable groups; fc2's outputs are the classes.
        XCTAssertEqual(profile.groups.map(\.name), ["conv1", "conv2", "fc1"])
        XCTAssertEqual(seen, 6)
        XCTAssertEqual(profile.baseline, try Evaluator(graph: graph, batchSize: 32, threads: 1).evaluate(evaluation, transforms: []).top1)
        // One entry recomputed by hand: conv2 alone at 0.75 keeps its 4 highest-L1 channels.
        let analysis = try ChannelAnalysis(graph)
        var pruning = PruningSettings()
        pruning.ratio = 0
        pruning.layerRatios = ["conv2": 0.75]
        pruning.roundTo = 1
        let scores = try ChannelImportance.scores(.l1, analysis: analysis)
        let pruned = try ChannelSurgery.apply(try PruningPlanner.plan(analysis, scores: scores, settings: pruning), analysis: analysis)
        XCTAssertEqual(pruned.parameters["conv2.weight"]!.shape, [4, 16, 3, 3])
        XCTAssertEqual(profile.groups[1].accuracy[1], try Evaluator(graph: pruned, batchSize: 32, threads: 1).evaluate(evaluation, transforms: []).top1)
        XCTAssertEqual(profile.groups[1].parameters[1], try pruned.trainableParameterCount())
        XCTAssertTrue(profile.table.contains("conv2"))
        XCTAssertThrowsError(try SensitivityAnalysis.run(graph, evaluation: evaluation, subset: "test", transforms: [],
                                                         settings: { var s = settings; s.ratios = [0.5, 0.3]; return s }()))
    }

    func testDropIsInterpolatedAndNeverNegative() {
        let group = SensitivityProfile.Group(key: "a", name: "a", units: 10, accuracy: [0.9, 0.8, 0.95], parameters: [1, 1, 1])
        let profile = SensitivityProfile(criterion: "l1", ratios: [0.2, 0.4, 0.8], samples: 10, subset: "test", baseline: 0.9,
                                         baselineParameters: 1, groups: [group], seconds: 0)
        XCTAssertEqual(profile.drop(group, at: 0), 0)
        XCTAssertEqual(profile.drop(group, at: 0.2), 0, accuracy: 1e-12)
        XCTAssertEqual(profile.drop(group, at: 0.3), 0.05, accuracy: 1e-12)
        XCTAssertEqual(profile.drop(group, at: 0.4), 0.1, accuracy: 1e-12)
        // An accuracy that recovers at a larger ratio does not make the drop smaller (monotone).
        XCTAssertEqual(profile.drop(group, at: 0.8), 0.1, accuracy: 1e-12)
        XCTAssertEqual(profile.drop(group, at: 0.95), 0.1, accuracy: 1e-12)
    }

    // MARK: Allocator

    func testAllocatorMeetsAParameterTargetSpendingTheInsensitiveGroupFirst() throws {
        let graph = try model()
        let total = try graph.trainableParameterCount()
        func group(_ name: String, units: Int, drops: [Double]) -> SensitivityProfile.Group {
            SensitivityProfile.Group(key: name, name: name, units: units, accuracy: drops.map { 0.9 - $0 }, parameters: [0, 0, 0])
        }
        // conv2 is fragile, fc1 free, conv1 in between.
        let profile = SensitivityProfile(criterion: "l1", ratios: [0.25, 0.5, 0.75], samples: 10, subset: "test", baseline: 0.9,
                                         baselineParameters: total,
                                         groups: [group("conv1", units: 16, drops: [0.01, 0.02, 0.05]),
                                                  group("conv2", units: 16, drops: [0.2, 0.4, 0.6]),
                                                  group("fc1", units: 32, drops: [0, 0, 0.01])],
                                         seconds: 0)
        var settings = RatioAllocator.Settings()
        settings.roundTo = 1
        settings.maxRatio = 0.75
        let bound = Double(total) * 0.6
        let allocation = try RatioAllocator.allocate(graph, profile: profile, bound: bound, settings: settings) {
            Double(try $0.trainableParameterCount())
        }
        let pruned = try RatioAllocator.apply(allocation.ratios, to: try ChannelAnalysis(graph), roundTo: 1)
        XCTAssertLessThanOrEqual(Double(try pruned.trainableParameterCount()), bound)
        XCTAssertEqual(allocation.proxy, Double(try pruned.trainableParameterCount()))
        XCTAssertGreaterThan(allocation.ratios["fc1"] ?? 0, 0.5, "the free group goes first: \(allocation.ratios)")
        XCTAssertNil(allocation.ratios["conv2"], "the fragile group is spared while others can pay: \(allocation.ratios)")
        // No ratio can be lowered a step and still meet the bound: the slack of the last step is
        // spent back (checked over several bounds, with the coarse widths of --round-to 8).
        var coarse = settings
        coarse.roundTo = 8
        var rounding = PruningSettings()
        rounding.roundTo = 8
        for fraction in stride(from: 0.3, through: 0.8, by: 0.05) {
            let limit = Double(total) * fraction
            let a = try RatioAllocator.allocate(graph, profile: profile, bound: limit, settings: coarse) {
                Double(try $0.trainableParameterCount())
            }
            for (name, ratio) in a.ratios {
                let units = profile.groups.first { $0.name == name }!.units
                var lower = ratio - coarse.step
                while lower > 1e-9, rounding.keptUnits(units, ratio: lower) == rounding.keptUnits(units, ratio: ratio) { lower -= coarse.step }
                var trial = a.ratios
                trial[name] = lower > 1e-9 ? lower : nil
                let lowered = try RatioAllocator.apply(trial, to: try ChannelAnalysis(graph), roundTo: 8)
                XCTAssertGreaterThan(Double(try lowered.trainableParameterCount()), limit,
                                     "bound \(fraction): \(name) could be lowered to \(lower): \(a.ratios)")
            }
        }
        var predicted = 0.0
        for (name, r) in allocation.ratios {
            predicted += profile.drop(profile.groups.first { $0.name == name }!, at: r)
        }
        XCTAssertEqual(allocation.predictedDrop, predicted, accuracy: 1e-12)

        // Every group at 0.75 still leaves more than a tenth of the parameters: not reachable.
        XCTAssertThrowsError(try RatioAllocator.allocate(graph, profile: profile, bound: Double(total) * 0.02, settings: settings) {
            Double(try $0.trainableParameterCount())
        }) { XCTAssertTrue("\($0)".contains("cannot be met"), "\($0)") }
    }

    // MARK: Pipeline

    private func trained() throws -> Graph {
        var c = TrainingConfiguration()
        c.epochs = 2
        c.batchSize = 32
        c.threads = 1
        c.validationFraction = 0.25
        let directory = temporary()
        let trainer = try Trainer(graph: try model(), trainingSet: quadrants(count: 256, seed: 1), testSet: nil, configuration: c,
                                  directory: directory)
        try trainer.run()
        return try TrainingCheckpoint.read(from: RunDirectory(directory).best).graph
    }

    private func configuration(target: CompressionTarget) -> CompressionConfiguration {
        var c = CompressionConfiguration(target: target, recipe: CompressionRecipe())
        c.teacherEpochs = 2
        c.maxDrop = 1
        c.sensitivity.ratios = [0.3, 0.6]
        c.sensitivitySamples = 48
        c.allocator.roundTo = 1
        c.allocator.maxRatio = 0.8
        c.pruneSteps = 2
        c.finetuneEpochs = 1
        c.training.batchSize = 32
        c.training.threads = 1
        c.training.validationFraction = 0.25
        c.calibrationBatches = 2
        c.benchmark = .init(batch: 1, threads: 1, warmup: 1, runs: 2)
        c.notes = ["model": "test-net", "data": "quadrants"]
        return c
    }

    func testPipelineMeetsAParameterTargetAndReportsEveryStep() throws {
        let train = quadrants(count: 320, seed: 1), test = quadrants(count: 64, seed: 2)
        let start = try model()
        let bound = Int(Double(try start.trainableParameterCount()) * 0.5)
        let directory = temporary()
        let pipeline = try CompressionPipeline(model: start, directory: directory, configuration: configuration(target: .parameters(bound)),
                                               trainingSet: train, testSet: test)
        XCTAssertEqual(pipeline.phases.map(\.rawValue), ["teacher", "start", "sensitivity", "allocate", "prune", "quantize", "export"])
        let state = try pipeline.run()
        XCTAssertEqual(state.finished, pipeline.phases)
        XCTAssertEqual(state.steps.map(\.name), ["start (teacher)", "prune 1/2", "prune 2/2", "int8 (minmax)"])
        XCTAssertEqual(state.steps.map(\.precision), ["f32", "f32", "f32", "int8"])
        XCTAssertEqual(state.targetMet, true)
        XCTAssertEqual(state.outcome, "met")
        XCTAssertLessThanOrEqual(state.steps.last!.parameters, bound)
        XCTAssertTrue(state.steps.allSatisfy { $0.validationAccuracy != nil && $0.testAccuracy != nil && $0.figures.latencyMilliseconds > 0 })
        XCTAssertEqual(state.steps[0].macRatio, 1)
        XCTAssertGreaterThan(state.steps[2].macRatio, 1)
        XCTAssertLessThan(state.steps[3].figures.fileBytes, state.steps[2].figures.fileBytes / 2)
        XCTAssertEqual(state.curves.map(\.phase), ["teacher", "prune 1/2", "prune 2/2"])
        XCTAssertEqual(state.curves[0].epochs.count, 2)

        let final = try ModelFile.load(from: directory.appendingPathComponent("final.safetensors"))
        XCTAssertTrue(final.nodes.contains { $0.quantization != nil })
        XCTAssertEqual(try ModelSummary(graph: final).trainableParameters, state.steps.last!.parameters)
        for file in ["teacher.safetensors", "start.safetensors", "sensitivity.json", "sensitivity.svg", "allocation.json",
                     "prune/pruned.safetensors", "int8.safetensors", "final.onnx", "report.json", "report.html", "state.json"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: directory.appendingPathComponent(file).path), file)
        }
        // The widths: every layer of the start, with the pruned widths after.
        XCTAssertEqual(state.widths.map(\.name), ["conv1", "conv2", "fc1", "fc2"])
        XCTAssertEqual(state.widths.map(\.before), [16, 16, 32, 4])
        XCTAssertEqual(state.widths.last?.after, 4)
        XCTAssertTrue(zip(state.widths, state.widths).allSatisfy { ($0.0.after ?? 0) <= ($0.0.before ?? 0) })

        try checkReport(directory)
    }

    /// report.html parses as XML, shows every step's figures from report.json in its table, the
    /// allocation and the sensitivity drops; its SVG charts are well-formed and present.
    private func checkReport(_ directory: URL, file: StaticString = #filePath, line: UInt = #line) throws {
        let report = try CompressionReport.read(from: directory.appendingPathComponent("report.json"))
        let data = try Data(contentsOf: directory.appendingPathComponent("report.html"))
        let collector = PageCollector()
        let parser = XMLParser(data: data)
        parser.delegate = collector
        XCTAssertTrue(parser.parse(), "report.html is not well-formed: \(parser.parserError.map { "\($0)" } ?? "")", file: file, line: line)
        let rows = collector.rows.map { $0.joined(separator: "|") }
        for step in report.steps {
            XCTAssertTrue(rows.contains(ReportPage.cells(step).joined(separator: "|")), "step \(step.name) not in the table: \(rows)",
                          file: file, line: line)
        }
        for (name, ratio) in report.allocation?.ratios ?? [:] {
            XCTAssertTrue(rows.contains("\(name)|" + String(format: "%.2f", ratio)), "allocation \(name)", file: file, line: line)
        }
        if let profile = report.sensitivity {
            for g in profile.groups {
                let row = ["\(g.name)", "\(g.units)"] + g.accuracy.map { String(format: "%+.2f", (profile.baseline - $0) * 100) }
                XCTAssertTrue(rows.contains(row.joined(separator: "|")), "sensitivity \(g.name)", file: file, line: line)
            }
        }
        // Accuracy/parameters, speed-up, two per training curve, widths, sensitivity.
        let widthCharts = report.widths.contains { $0.after != nil } ? 1 : 0
        XCTAssertEqual(collector.svgs, 2 + 2 * report.curves.count + widthCharts + (report.sensitivity == nil ? 0 : 1), file: file, line: line)
        XCTAssertTrue(collector.text.contains(report.targetMet == true ? "Target met" : (report.outcome ?? "")), file: file, line: line)
    }

    func testSizeTargetIsMetByTheFinalInt8File() throws {
        let train = quadrants(count: 320, seed: 1), test = quadrants(count: 64, seed: 2)
        let start = try model()
        // The int8 form of the unpruned model, and a bound 60% of it: pruning must buy the rest.
        let int8Start = try ModelFile.encodedByteCount(try PostTrainingQuantizer(settings: QuantizationSettings(weightBits: 7))
            .quantize(start, calibration: [Tensor(zeros: [2, 1, 12, 12])]).graph)
        let bound = Int(Double(int8Start) * 0.6)
        let directory = temporary()
        let pipeline = try CompressionPipeline(model: start, directory: directory, configuration: configuration(target: .bytes(bound)),
                                               trainingSet: train, testSet: test)
        let state = try pipeline.run()
        XCTAssertEqual(state.targetMet, true, state.outcome ?? "")
        let bytes = try XCTUnwrap(FileManager.default.attributesOfItem(atPath: directory.appendingPathComponent("int8.safetensors").path)[.size] as? Int)
        XCTAssertEqual(state.steps.last?.figures.fileBytes, bytes)
        XCTAssertLessThanOrEqual(bytes, bound)
        XCTAssertFalse(state.allocation?.ratios.isEmpty ?? true)
    }

    func testRewriteRecipeFactorsThenFineTunesAndQuantises() throws {
        let train = quadrants(count: 320, seed: 1), test = quadrants(count: 64, seed: 2)
        var c = configuration(target: .parameters(1_000_000))
        c.recipe = try CompressionRecipe(parsing: "dwpw,distill,quantize")
        let directory = temporary()
        let pipeline = try CompressionPipeline(model: try model(), directory: directory, configuration: c, trainingSet: train, testSet: test)
        XCTAssertEqual(pipeline.phases.map(\.rawValue), ["teacher", "start", "rewrite", "quantize", "export"])
        let state = try pipeline.run()
        XCTAssertEqual(state.steps.map(\.name), ["start (teacher)", "dwpw", "int8 (minmax)"])
        XCTAssertLessThan(state.steps[1].parameters, state.steps[0].parameters)
        XCTAssertEqual(state.curves.map(\.phase), ["teacher", "rewrite"])
        // conv2 became a depthwise and a pointwise convolution.
        let rewritten = try ModelFile.load(from: directory.appendingPathComponent("rewrite.safetensors"))
        XCTAssertFalse(rewritten.nodes.contains { $0.name == "conv2" }, "\(rewritten.nodes.map(\.name))")
        XCTAssertTrue(state.widths.contains { $0.before == nil && $0.after != nil }, "new layers are listed: \(state.widths)")
        try checkReport(directory)
    }

    func testQuantisationAwareTrainingFollowsCalibrationWhenAsked() throws {
        XCTAssertTrue(QATPolicy.auto.runs(drop: 0.02, maxDrop: 0.01))
        XCTAssertFalse(QATPolicy.auto.runs(drop: 0.01, maxDrop: 0.01))
        XCTAssertTrue(QATPolicy.always.runs(drop: -0.5, maxDrop: 0.01))
        XCTAssertFalse(QATPolicy.never.runs(drop: 0.5, maxDrop: 0.01))

        let train = quadrants(count: 320, seed: 1), test = quadrants(count: 64, seed: 2)
        var c = configuration(target: .parameters(Int(Double(try model().trainableParameterCount()) * 0.5)))
        c.qat = .always
        c.pruneSteps = 1
        let directory = temporary()
        let state = try CompressionPipeline(model: try model(), directory: directory, configuration: c, trainingSet: train,
                                            testSet: test).run()
        XCTAssertEqual(state.steps.map(\.name), ["start (teacher)", "prune 1/1", "int8 (minmax)", "int8 (QAT)"])
        XCTAssertEqual(state.steps.last?.precision, "int8")
        XCTAssertEqual(state.curves.map(\.phase), ["teacher", "prune 1/1", "qat"])
        XCTAssertEqual(state.current, "int8-qat.safetensors")
        let final = try ModelFile.load(from: directory.appendingPathComponent("final.safetensors"))
        let qat = try ModelFile.load(from: directory.appendingPathComponent("int8-qat.safetensors"))
        XCTAssertEqual(final.nodes, qat.nodes)
        XCTAssertTrue(final.nodes.contains { $0.quantization != nil })
        XCTAssertTrue(FileManager.default.fileExists(atPath: directory.appendingPathComponent("qat/best.safetensors").path))
        try checkReport(directory)
    }

    func testResumedAfterEachPhaseGivesTheSameRun() throws {
        let train = quadrants(count: 320, seed: 1), test = quadrants(count: 64, seed: 2)
        let start = try model()
        let target = CompressionTarget.parameters(Int(Double(try start.trainableParameterCount()) * 0.5))
        let whole = temporary()
        let expected = try CompressionPipeline(model: start, directory: whole, configuration: configuration(target: target),
                                               trainingSet: train, testSet: test).run()
        let parted = temporary()
        try CompressionPipeline(model: start, directory: parted, configuration: configuration(target: target), trainingSet: train,
                                testSet: test).run(stoppingAfter: .sensitivity)
        // A kill inside the prune phase: its first step is finished, the rest is not.
        let resumed = try CompressionPipeline(resuming: parted, trainingSet: train, testSet: test)
        XCTAssertEqual(resumed.state.finished.map(\.rawValue), ["teacher", "start", "sensitivity"])
        try resumed.run(stoppingAfter: .prune)
        let again = try CompressionPipeline(resuming: parted, trainingSet: train, testSet: test).run()
        XCTAssertEqual(again.finished, expected.finished)
        XCTAssertEqual(again.allocation, expected.allocation)
        XCTAssertEqual(again.steps.map(\.name), expected.steps.map(\.name))
        XCTAssertEqual(again.steps.map(\.parameters), expected.steps.map(\.parameters))
        XCTAssertEqual(again.steps.map(\.validationAccuracy), expected.steps.map(\.validationAccuracy))
        XCTAssertEqual(again.steps.map(\.testAccuracy), expected.steps.map(\.testAccuracy))
        let a = try ModelFile.load(from: whole.appendingPathComponent("final.safetensors"))
        let b = try ModelFile.load(from: parted.appendingPathComponent("final.safetensors"))
        XCTAssertEqual(a.parameters.keys.sorted(), b.parameters.keys.sorted())
        for (name, tensor) in a.parameters {
            XCTAssertEqual(tensor.shape, b.parameters[name]!.shape, name)
            XCTAssertEqual(tensor.byteCount, b.parameters[name]!.byteCount, name)
            XCTAssertEqual(memcmp(tensor.storage.pointer, b.parameters[name]!.storage.pointer, tensor.byteCount), 0, name)
        }
        XCTAssertThrowsError(try CompressionPipeline(model: start, directory: whole, configuration: configuration(target: target),
                                                     trainingSet: train, testSet: test)) { XCTAssertTrue("\($0)".contains("--resume")) }
    }

    /// Quadrants whose square is barely brighter than the noise: a model that loses channels
    /// without fine-tuning loses accuracy.
    private func faint(count: Int, seed: UInt64) -> InMemoryDataset {
        var generator = SeededGenerator(seed: seed)
        var pixels: [UInt8] = [], labels: [Int] = []
        for _ in 0..<count {
            let label = Int(generator.next() % 4)
            for y in 0..<12 {
                for x in 0..<12 { pixels.append(UInt8(((y / 6) * 2 + (x / 6) == label ? 30 : 0) + Int(generator.next() % 160))) }
            }
            labels.append(label)
        }
        return InMemoryDataset(sampleShape: [1, 12, 12], classes: 4, classNames: nil, pixels: pixels, labels: labels)
    }

    func testAStepBeyondMaxDropStopsTheRunAndKeepsItsModels() throws {
        let train = faint(count: 640, seed: 1), test = faint(count: 128, seed: 2)
        var c = configuration(target: .parameters(Int(Double(try model().trainableParameterCount()) * 0.1)))
        c.allocator.maxRatio = 0.95
        c.maxDrop = 0
        c.finetuneEpochs = 0
        c.recipe = CompressionRecipe(prunes: true, distills: false, quantizes: true)
        let directory = temporary()
        let pipeline = try CompressionPipeline(model: try model(), directory: directory, configuration: c, trainingSet: train, testSet: test)
        XCTAssertThrowsError(try pipeline.run(), "\(pipeline.state.steps.map { ($0.name, $0.validationAccuracy ?? -1) })") { error in
            guard case let CompressionError.maxDropExceeded(message) = error else { return XCTFail("\(error)") }
            XCTAssertTrue(message.contains("--max-drop 0.00 points") && message.contains("after 'prune 2/2'"), message)
        }
        XCTAssertEqual(pipeline.state.targetMet, false)
        XCTAssertFalse(pipeline.state.finished.contains(.prune))
        XCTAssertTrue(FileManager.default.fileExists(atPath: directory.appendingPathComponent("prune/step-2.safetensors").path))
        try checkReport(directory)

        // Resumed with a larger bound, the run goes on from its saved steps.
        let resumed = try CompressionPipeline(resuming: directory, trainingSet: train, testSet: test, maxDrop: 1)
        let state = try resumed.run()
        XCTAssertEqual(state.targetMet, true, state.outcome ?? "")
        XCTAssertEqual(state.steps.map(\.name), ["start (teacher)", "prune 1/2", "prune 2/2", "int8 (minmax)"])
    }

    func testATargetTheStartMeetsPrunesNothing() throws {
        let train = quadrants(count: 320, seed: 1), test = quadrants(count: 64, seed: 2)
        var c = configuration(target: .parameters(1_000_000))
        c.recipe = CompressionRecipe(prunes: true, distills: false, quantizes: true)
        var notes: [String] = []
        let pipeline = try CompressionPipeline(model: try model(), directory: temporary(), configuration: c, trainingSet: train, testSet: test)
        pipeline.onEvent = { if case let .note(text) = $0 { notes.append(text) } }
        let state = try pipeline.run()
        XCTAssertEqual(state.steps.map(\.name), ["start (teacher)", "int8 (minmax)"])
        XCTAssertEqual(state.allocation?.ratios, [:])
        XCTAssertTrue(notes.contains { $0.contains("nothing is pruned") }, "\(notes)")

        // A latency target is allocated on MACs and checked on the measured latency of the
        // final (int8) form; one far above the start's is met without pruning.
        c.target = .latency(milliseconds: 1000)
        let timed = try CompressionPipeline(model: try model(), directory: temporary(), configuration: c, trainingSet: train, testSet: test)
        timed.onEvent = { if case let .note(text) = $0 { notes.append(text) } }
        let latency = try timed.run()
        XCTAssertEqual(latency.targetMet, true, latency.outcome ?? "")
        XCTAssertTrue(notes.contains { $0.hasPrefix("allocation 1: MACs") && $0.contains("-> latency") }, "\(notes)")
    }

    func testUnreachableTargetsAndUnusableModelsAreRefused() throws {
        let train = quadrants(count: 320, seed: 1), test = quadrants(count: 64, seed: 2)
        var c = configuration(target: .parameters(50))
        c.teacherEpochs = nil
        let pipeline = try CompressionPipeline(model: try model(), directory: temporary(), configuration: c, trainingSet: train, testSet: test)
        XCTAssertThrowsError(try pipeline.run()) { error in
            guard case let CompressionError.targetNotMet(message) = error else { return XCTFail("\(error)") }
            XCTAssertTrue(message.contains("at most 50 parameters cannot be met"), message)
        }
        XCTAssertEqual(pipeline.state.finished.map(\.rawValue), ["start", "sensitivity"])

        // An int8 model, and data of the wrong shape.
        let quantized = try PostTrainingQuantizer().quantize(try model(), calibration: [Tensor(zeros: [2, 1, 12, 12])]).graph
        XCTAssertThrowsError(try CompressionPipeline(model: quantized, directory: temporary(), configuration: c, trainingSet: train,
                                                     testSet: test)) { XCTAssertTrue("\($0)".contains("already quantised"), "\($0)") }
        let wide = InMemoryDataset(sampleShape: [3, 12, 12], classes: 4, classNames: nil, pixels: [UInt8](repeating: 0, count: 3 * 144 * 8),
                                   labels: [Int](repeating: 0, count: 8))
        XCTAssertThrowsError(try CompressionPipeline(model: try model(), directory: temporary(), configuration: c, trainingSet: wide,
                                                     testSet: nil))
    }
}

/// Collects table rows (cell texts), the text and the number of SVG elements of a page.
private final class PageCollector: NSObject, XMLParserDelegate {
    var rows: [[String]] = []
    var text = ""
    var svgs = 0
    private var row: [String]?
    private var cell: String?

    func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?,
                attributes: [String: String] = [:]) {
        switch name {
        case "tr": row = []
        case "td", "th": cell = ""
        case "svg": svgs += 1
        default: break
        }
    }

    func parser(_ parser: XMLParser, foundCharacters string: String) {
        text += string
        if cell != nil { cell! += string }
    }

    func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) {
        switch name {
        case "td", "th":
            if let cell { row?.append(cell) }
            cell = nil
        case "tr":
            if let row { rows.append(row) }
            row = nil
        default: break
        }
    }
}
