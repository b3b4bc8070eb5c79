import Foundation
import PareCore
import PareIO
import PareModels
import XCTest

@testable import PareCompress

/// Surgery: pruned graphs are valid, smaller, and compute what the original computes with
/// the removed channels' producers zeroed.
final class ChannelSurgeryTests: XCTestCase {
    /// A seeded plan removing 30-50% of every prunable group's units.
    static func randomPlan(_ analysis: ChannelAnalysis, seed: UInt64) -> PruningPlan {
        var generator = SeededGenerator(seed: seed)
        var entries: [PruningPlan.Entry] = []
        for group in analysis.groups where group.prunable && group.units > 1 {
            let fraction = 0.3 + 0.2 * Double(generator.nextUniform())
            let count = min(group.units - 1, max(1, Int(Double(group.units) * fraction)))
            var units = Array(0..<group.units)
            for i in stride(from: units.count - 1, to: 0, by: -1) {
                units.swapAt(i, Int(generator.next() % UInt64(i + 1)))
            }
            entries.append(PruningPlan.Entry(group: group.id, units: group.units, producers: group.producers,
                                             removed: Array(units.prefix(count)).sorted()))
        }
        // Never empty a node (ShuffleNet's slice windows can be a single unit wide).
        let safe = analysis.keepingEveryNode(Dictionary(uniqueKeysWithValues: entries.map { ($0.group, Set($0.removed)) })) { _, u in Double(u) }
        return PruningPlan(entries: entries.compactMap { entry in
            var entry = entry
            entry.removed = safe[entry.group]!.sorted()
            return entry.removed.isEmpty ? nil : entry
        })
    }

    private func input(_ entry: ZooEntry) -> (Shape, Int) {
        switch entry.name {
        case "vgg11", "vgg13", "vgg16", "vgg19": return (entry.defaultInput, 1)
        default: return ([entry.defaultInput[0], min(entry.defaultInput[1], 32), min(entry.defaultInput[2], 32)], 2)
        }
    }

    private func run(_ graph: Graph, _ x: Tensor) throws -> Tensor {
        let executor = try DNNLExecutor(graph: graph, batchSize: x.shape[0], mode: .inference,
                                        configuration: ExecutorConfiguration(threads: 2))
        return try executor.forward([x])[0].copy()
    }

    func testPrunedEqualsMaskedOnEveryZooModel() throws {
        var generator = SeededGenerator(seed: 11)
        // The ImageNet VGGs differ only in depth and take 224x224 images only (a 138 M-parameter
        // classifier): vgg11 stands for them.
        for (n, entry) in Zoo.entries.enumerated() where !["vgg13", "vgg16", "vgg19"].contains(entry.name) {
            let started = Date()
            defer { print("\(entry.name): \(String(format: "%.1f", Date().timeIntervalSince(started))) s") }
            let (shape, batch) = input(entry)
            let graph = try randomized(try entry.build(ZooOptions(input: shape, withParameters: false)), seed: UInt64(n))
            let analysis = try ChannelAnalysis(graph)
            let plan = Self.randomPlan(analysis, seed: UInt64(100 + n))
            XCTAssertGreaterThan(plan.removedUnits, 0, entry.name)
            let pruned = try ChannelSurgery.apply(plan, analysis: analysis)
            try pruned.validate()
            XCTAssertLessThan(try pruned.trainableParameterCount(), try graph.trainableParameterCount(), entry.name)
            let masked = try ChannelSurgery.masking(plan, in: graph)
            let x = Tensor.randomNormal(shape.prepending(batch), generator: &generator)
            let expected = try run(masked, x)
            assertCloseRelative(try run(pruned, x), expected, rtol: 1e-5, "\(entry.name) pruned vs masked")
            // The check can fail: the unmasked original differs.
            let original = try run(graph, x)
            let difference = zip(original.floats, expected.floats).map { abs($0 - $1) }.max() ?? 0
            XCTAssertGreaterThan(difference, 1e-4, "\(entry.name): masking changed nothing")
        }
    }

    func testPruningNothingReturnsAnIdenticalModel() throws {
        let graph = try randomized(try Zoo.build("tiny-residual", options: ZooOptions(withParameters: false)), seed: 1)
        let same = try ChannelSurgery.apply(.empty, to: graph)
        XCTAssertEqual(same.nodes, graph.nodes)
        XCTAssertEqual(same.outputs, graph.outputs)
        XCTAssertEqual(Set(same.parameters.keys), Set(graph.parameters.keys))
        for (name, tensor) in graph.parameters where tensor.dtype == .f32 {
            XCTAssertEqual(same.parameters[name]!.scalars, tensor.scalars, name)
            XCTAssertFalse(same.parameters[name]!.storage === tensor.storage, "\(name) is a copy")
        }
    }

    func testSlicesTheRightRowsAndColumns() throws {
        var b = GraphBuilder()
        var x = b.input([2, 4, 4])
        x = b.conv2d(x, "conv1", outChannels: 4, kernelSize: 1, bias: true)
        x = b.relu(b.batchNorm(x, "bn1"))
        x = b.conv2d(x, "conv2", outChannels: 3, kernelSize: 1, bias: false)
        let graph = try randomized(try b.buildWithoutParameters(outputs: [x]), seed: 2)
        let analysis = try ChannelAnalysis(graph)
        let group = analysis.groups.first { $0.producers == ["conv1"] }!
        let plan = PruningPlan(entries: [.init(group: group.id, units: 4, producers: ["conv1"], removed: [0, 2])])
        let pruned = try ChannelSurgery.apply(plan, analysis: analysis)
        let w1 = graph.parameters["conv1.weight"]!.scalars  // [4, 2, 1, 1]
        XCTAssertEqual(pruned.parameters["conv1.weight"]!.scalars, [w1[2], w1[3], w1[6], w1[7]])
        let b1 = graph.parameters["conv1.bias"]!.scalars
        XCTAssertEqual(pruned.parameters["conv1.bias"]!.scalars, [b1[1], b1[3]])
        for suffix in ["weight", "bias", "running_mean", "running_var"] {
            let v = graph.parameters["bn1.\(suffix)"]!.scalars
            XCTAssertEqual(pruned.parameters["bn1.\(suffix)"]!.scalars, [v[1], v[3]], suffix)
        }
        let w2 = graph.parameters["conv2.weight"]!.scalars  // [3, 4, 1, 1]
        XCTAssertEqual(pruned.parameters["conv2.weight"]!.scalars, [w2[1], w2[3], w2[5], w2[7], w2[9], w2[11]])
        XCTAssertEqual(try pruned.inferShapes()[1], [2, 4, 4])
    }

    /// Pruning through a squeeze-and-excitation gate slices the gate convolution's rows, the
    /// per-channel PReLU's slopes and the reading convolutions' columns, keeps a shared slope,
    /// and computes what the masked original computes.
    func testPrunesThroughTheGateAndSlicesPReLUSlopes() throws {
        var b = GraphBuilder()
        var x = b.input([3, 6, 6])
        x = b.prelu(b.batchNorm(b.conv2d(x, "expand", outChannels: 6, kernelSize: 1, bias: false), "expand_bn"), "expand_act")
        let squeezed = b.relu(b.conv2d(b.globalAvgPool(x), "se.fc1", outChannels: 2, kernelSize: 1))
        x = b.mul(x, b.hardSigmoid(b.conv2d(squeezed, "se.fc2", outChannels: 6, kernelSize: 1)))
        x = b.prelu(b.conv2d(x, "project", outChannels: 4, kernelSize: 1), "project_act", perChannel: false)
        x = b.linear(b.flatten(b.globalAvgPool(x)), "fc", outFeatures: 3)
        let graph = try randomized(try b.buildWithoutParameters(outputs: [x]), seed: 6)
        let analysis = try ChannelAnalysis(graph)
        let group = analysis.groups.first { $0.producers.contains("expand") }!
        let plan = PruningPlan(entries: [.init(group: group.id, units: 6, producers: group.producers, removed: [1, 4])])
        let pruned = try ChannelSurgery.apply(plan, analysis: analysis)
        try pruned.validate()
        let slopes = graph.parameters["expand_act.weight"]!.scalars
        XCTAssertEqual(pruned.parameters["expand_act.weight"]!.scalars, [slopes[0], slopes[2], slopes[3], slopes[5]])
        XCTAssertEqual(pruned.parameters["project_act.weight"]!.scalars, graph.parameters["project_act.weight"]!.scalars)
        XCTAssertEqual(pruned.parameters["se.fc2.weight"]!.shape, [4, 2, 1, 1])
        XCTAssertEqual(pruned.parameters["se.fc2.bias"]!.shape, [4])
        XCTAssertEqual(pruned.parameters["se.fc1.weight"]!.shape, [2, 4, 1, 1])
        XCTAssertEqual(pruned.parameters["project.weight"]!.shape, [4, 4, 1, 1])
        var generator = SeededGenerator(seed: 8)
        let input = Tensor.randomNormal([2, 3, 6, 6], generator: &generator)
        let expected = try run(try ChannelSurgery.masking(plan, in: graph), input)
        assertCloseRelative(try run(pruned, input), expected, rtol: 1e-5, "pruned vs masked")
        let original = try run(graph, input)
        XCTAssertGreaterThan(zip(original.floats, expected.floats).map { abs($0 - $1) }.max() ?? 0, 1e-4, "masking changed nothing")
    }

    /// Pruning mobilenet_v3_small through an SE gate: half of an expanded block's channels
    /// go from the expand conv, depthwise conv, the gate's fc2 rows and fc1 columns and the
    /// project conv's columns; the pruned model runs and equals the masked original.
    func testPrunesMobileNetV3ThroughItsSqueezeExcitationGate() throws {
        let graph = try randomized(try Zoo.build("mobilenet_v3_small", options: ZooOptions(classes: 10, input: [3, 64, 64],
                                                                                           withParameters: false)), seed: 9)
        let analysis = try ChannelAnalysis(graph)
        let group = try XCTUnwrap(analysis.groups.first { $0.producers.contains("features.4.block.0.0") })
        let plan = PruningPlan(entries: [.init(group: group.id, units: group.units, producers: group.producers,
                                               removed: Array(stride(from: 0, to: group.units, by: 2)))])
        let pruned = try ChannelSurgery.apply(plan, analysis: analysis)
        try pruned.validate()
        XCTAssertEqual(pruned.parameters["features.4.block.0.0.weight"]!.shape, [48, 24, 1, 1])
        XCTAssertEqual(pruned.parameters["features.4.block.1.0.weight"]!.shape, [48, 1, 5, 5])
        XCTAssertEqual(pruned.parameters["features.4.block.2.fc1.weight"]!.shape, [24, 48, 1, 1])
        XCTAssertEqual(pruned.parameters["features.4.block.2.fc2.weight"]!.shape, [48, 24, 1, 1])
        XCTAssertEqual(pruned.parameters["features.4.block.2.fc2.bias"]!.shape, [48])
        XCTAssertEqual(pruned.parameters["features.4.block.3.0.weight"]!.shape, [40, 48, 1, 1])
        var generator = SeededGenerator(seed: 10)
        let x = Tensor.randomNormal([2, 3, 64, 64], generator: &generator)
        let expected = try run(try ChannelSurgery.masking(plan, in: graph), x)
        assertCloseRelative(try run(pruned, x), expected, rtol: 1e-5, "pruned vs masked")
        XCTAssertGreaterThan(zip(try run(graph, x).floats, expected.floats).map { abs($0 - $1) }.max() ?? 0, 1e-4,
                             "masking changed nothing")
    }

    func testPrunedModelSavesReloadsTrainsAndExports() throws {
        let graph = try randomized(try Zoo.build("tiny-residual", options: ZooOptions(withParameters: false)), seed: 3)
        let analysis = try ChannelAnalysis(graph)
        let pruned = try ChannelSurgery.apply(Self.randomPlan(analysis, seed: 4), analysis: analysis)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("pare-surgery-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("pruned.safetensors")
        try ModelFile.save(pruned, to: file)
        let reloaded = try ModelFile.load(from: file)
        XCTAssertEqual(reloaded.nodes, pruned.nodes)
        XCTAssertEqual(try reloaded.inferShapes(), try pruned.inferShapes())
        var generator = SeededGenerator(seed: 5)
        let x = Tensor.randomNormal([2, 3, 32, 32], generator: &generator)
        assertCloseRelative(try run(reloaded, x), try run(pruned, x), rtol: 0, "reloaded")

        // ONNX: export and import back, same outputs.
        let onnx = directory.appendingPathComponent("pruned.onnx")
        try ONNXExport.write(reloaded, to: onnx)
        let imported = try ONNXImport.read(from: onnx)
        assertCloseRelative(try run(imported, x), try run(pruned, x), rtol: 1e-5, "ONNX round trip")

        // One training step runs and changes the weights.
        let executor = try DNNLExecutor(graph: reloaded, batchSize: 2, mode: .training, configuration: ExecutorConfiguration(threads: 2))
        let logits = try executor.forward([x])[0]
        try executor.backward([Tensor(repeating: 0.1, shape: logits.shape)])
        let gradient = try XCTUnwrap(executor.parameterGradients["fc.weight"])
        XCTAssertEqual(gradient.shape, reloaded.parameters["fc.weight"]!.shape)
        XCTAssertTrue(gradient.floats.contains { $0 != 0 })
    }

    func testPlansThatDoNotFitAreRefusedNamingTheProblem() throws {
        let graph = try Zoo.build("smallcnn", options: ZooOptions(withParameters: false))
        let analysis = try ChannelAnalysis(graph)
        let conv1 = analysis.groups.first { $0.producers == ["conv1"] }!
        func reason(_ entry: PruningPlan.Entry) -> String {
            do {
                _ = try ChannelSurgery.apply(PruningPlan(entries: [entry]), analysis: analysis)
                return "no error"
            } catch { return "\(error)" }
        }
        XCTAssertTrue(reason(.init(group: 99, units: 32, producers: ["conv1"], removed: [0])).contains("has \(analysis.groups.count) groups"))
        XCTAssertTrue(reason(.init(group: conv1.id, units: 16, producers: ["conv1"], removed: [0])).contains("32 made by conv1"))
        XCTAssertTrue(reason(.init(group: conv1.id, units: 32, producers: ["conv1"], removed: [32])).contains("no channel 32"))
        XCTAssertTrue(reason(.init(group: conv1.id, units: 32, producers: ["conv1"], removed: Array(0..<32))).contains("no channels"))
        let output = analysis.groups.first { !$0.prunable && $0.producers == ["fc2"] }!
        XCTAssertTrue(reason(.init(group: output.id, units: 10, producers: ["fc2"], removed: [1])).contains("may not be pruned"))
    }
}
