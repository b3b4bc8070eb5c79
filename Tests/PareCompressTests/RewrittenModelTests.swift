import Foundation
import PareCore
import PareIO
import XCTest

@testable import PareCompress

/// Rewritten models are models like any other: they save and reload, export to ONNX and
/// import back with the same outputs, train, and prune.
final class RewrittenModelTests: XCTestCase {
    private func pipelines() -> [(String, RewritePipeline)] {
        var dwpw = RewritePipeline(); dwpw.depthwiseSeparable = true; dwpw.depthwiseBatchNorm = true
        dwpw.selection = RewriteSelection(skip: ["conv1"])
        var svd = RewritePipeline(); svd.svd = true; svd.rank = .fixed(3)
        var tucker = RewritePipeline(); tucker.tucker = true; tucker.rank = .energy(0.8)
        var grouped = RewritePipeline(); grouped.groups = 2; grouped.selection = RewriteSelection(skip: ["conv1"])
        var all = RewritePipeline()
        all.dropBlocks = ["layer1.1"]; all.kernelSize = 3; all.depthwiseSeparable = true; all.svd = true; all.rank = .fixed(4)
        all.selection = RewriteSelection(skip: ["conv1"])
        return [("dwpw-bn", dwpw), ("svd", svd), ("tucker", tucker), ("grouped", grouped), ("all", all)]
    }

    func testRewrittenModelsSaveReloadExportTrainAndPrune() throws {
        let graph = try smallRewriteModel()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("pare-rewrites-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let x = normalInput([2, 3, 16, 16], seed: 16)
        let before = try inferenceOutput(graph, x)
        for (label, pipeline) in pipelines() {
            let result = try pipeline.apply(to: graph)
            let rewritten = result.graph
            XCTAssertFalse(result.records.isEmpty, label)
            XCTAssertEqual(try inferenceOutput(graph, x).scalars, before.scalars, "\(label): the original is untouched")

            let file = directory.appendingPathComponent("\(label).safetensors")
            try ModelFile.save(rewritten, to: file)
            let reloaded = try ModelFile.load(from: file)
            XCTAssertEqual(reloaded.nodes, rewritten.nodes, label)
            let y = try inferenceOutput(rewritten, x)
            assertCloseRelative(try inferenceOutput(reloaded, x), y, rtol: 0, "\(label): reloaded")

            let onnx = directory.appendingPathComponent("\(label).onnx")
            try ONNXExport.write(reloaded, to: onnx)
            let imported = try ONNXImport.read(from: onnx)
            assertCloseRelative(try inferenceOutput(imported, x), y, rtol: 1e-5, "\(label): ONNX round trip")

            let executor = try DNNLExecutor(graph: reloaded, batchSize: 2, mode: .training, configuration: ExecutorConfiguration(threads: 2))
            let logits = try executor.forward([x])[0]
            try executor.backward([Tensor(repeating: 0.1, shape: logits.shape)])
            for name in try reloaded.trainableParameterNames() where name.hasSuffix(".weight") && !name.contains(".bn") {
                let gradient = try XCTUnwrap(executor.parameterGradients[name], "\(label): no gradient for \(name)")
                XCTAssertEqual(gradient.shape, reloaded.parameters[name]!.shape, "\(label): \(name)")
            }
            XCTAssertTrue(executor.parameterGradients.values.contains { $0.floats.contains { $0 != 0 } }, label)

            let analysis = try ChannelAnalysis(rewritten)
            XCTAssertTrue(analysis.groups.contains(where: \.prunable), "\(label): nothing prunable")
            let pruned = try ChannelSurgery.apply(ChannelSurgeryTests.randomPlan(analysis, seed: 3), analysis: analysis)
            XCTAssertLessThan(try pruned.trainableParameterCount(), try rewritten.trainableParameterCount(), label)
        }
    }

    func testPipelineOrderAndFactorsEachLayerOnce() throws {
        var pipeline = RewritePipeline()
        pipeline.svd = true; pipeline.depthwiseSeparable = true; pipeline.kernelSize = 3; pipeline.rank = .fixed(2)
        pipeline.selection = RewriteSelection(skip: ["conv1"])
        XCTAssertEqual(pipeline.steps, ["kernel", "dwpw", "svd"])
        let result = try pipeline.apply(to: try smallRewriteModel())
        XCTAssertEqual(result.records.filter { $0.kind == "kernel" }.map(\.node), ["wide"])
        XCTAssertTrue(result.records.contains { $0.kind == "dwpw" && $0.node == "wide" }, "a shrunk layer is still factored")
        XCTAssertFalse(result.records.contains { $0.kind == "svd" && $0.node.hasSuffix(".pointwise") }, "svd split a dwpw node")
        let factoredByDWPW = Set(result.records.filter { $0.kind == "dwpw" }.map(\.node))
        XCTAssertEqual(factoredByDWPW, ["wide", "layer1.0.conv1", "layer1.0.conv2", "layer1.1.conv1", "layer1.1.conv2"])
        XCTAssertEqual(Set(result.records.filter { $0.kind == "svd" }.map(\.node)), ["head", "fc"])
        XCTAssertEqual(result.graph.metadata["rewrites"], "kernel,dwpw,svd")
    }
}
