import PareCore
import PareData
import PareModels
import XCTest

@testable import PareCompress

final class DropBlockRewriteTests: XCTestCase {
    func testFindsIdentityBlocksOnly() throws {
        let small = try smallRewriteModel()
        XCTAssertEqual(DropBlockRewrite.blocks(in: small).map(\.name), ["layer1.0", "layer1.1"])
        let resnet = try Zoo.build("resnet18", options: ZooOptions(input: [3, 32, 32], withParameters: false))
        XCTAssertEqual(DropBlockRewrite.blocks(in: resnet).map(\.name), ["layer1.0", "layer1.1", "layer2.1", "layer3.1", "layer4.1"])
        let mobile = try Zoo.build("mobilenet_v2", options: ZooOptions(input: [3, 32, 32], withParameters: false))
        XCTAssertEqual(DropBlockRewrite.blocks(in: mobile).count, 10)
    }

    func testDroppingABlockEqualsZeroingItsBranch() throws {
        let graph = try smallRewriteModel()
        let result = try DropBlockRewrite.apply(graph, named: ["layer1.1"])
        XCTAssertFalse(result.graph.nodes.contains { $0.name.hasPrefix("layer1.1.") })
        XCTAssertTrue(result.graph.nodes.contains { $0.name == "layer1.0.conv1" })
        var zeroed = graph
        for suffix in ["weight", "bias"] { zeroed.parameters["layer1.1.bn2.\(suffix)"] = Tensor(zeros: [8]) }
        let x = normalInput([2, 3, 16, 16], seed: 15)
        assertCloseRelative(try inferenceOutput(result.graph, x), try inferenceOutput(zeroed, x), rtol: 1e-5, "dropped vs zeroed branch")
        let record = try XCTUnwrap(result.records.first)
        XCTAssertEqual(record.node, "layer1.1")
        XCTAssertEqual(record.parametersBefore, 2 * (8 * 8 * 9 + 16))
        XCTAssertEqual(record.parametersAfter, 0)
        XCTAssertEqual(record.macsBefore, 2 * 8 * 16 * 16 * 8 * 9)
        XCTAssertGreaterThan(try XCTUnwrap(record.relativeError), 0)
        XCTAssertThrowsError(try DropBlockRewrite.apply(graph, named: ["layer2.0"])) { error in
            XCTAssertTrue("\(error)".contains("layer1.0, layer1.1"), "\(error)")
        }
    }

    func testAutomaticChoiceDropsTheCheapestBlock() throws {
        // layer1.0's branch made negligible: removing it costs nothing, removing layer1.1 costs accuracy.
        var graph = try smallRewriteModel()
        for suffix in ["weight", "bias"] { graph.parameters["layer1.0.bn2.\(suffix)"] = Tensor(repeating: 1e-4, shape: [8]) }
        for suffix in ["weight"] { graph.parameters["layer1.1.bn2.\(suffix)"] = Tensor(repeating: 5, shape: [8]) }
        // Labels are the model's own predictions, so the unchanged model scores 100 %.
        var pixels: [UInt8] = [], labels: [Int] = []
        var generator = SeededGenerator(seed: 4)
        for _ in 0..<64 { for _ in 0..<(3 * 16 * 16) { pixels.append(UInt8(generator.next() % 256)) } }
        let unlabeled = InMemoryDataset(sampleShape: [3, 16, 16], classes: 4, classNames: nil, pixels: pixels, labels: [Int](repeating: 0, count: 64))
        let batch = try XCTUnwrap(try DataLoader(unlabeled, batchSize: 64, shuffle: false, transforms: []).epoch(0).next())
        let logits = try inferenceOutput(graph, batch.images).floats
        for n in 0..<64 { labels.append((0..<4).max { logits[n * 4 + $0] < logits[n * 4 + $1] }!) }
        let data = InMemoryDataset(sampleShape: [3, 16, 16], classes: 4, classNames: nil, pixels: pixels, labels: labels)
        let validation = DropBlockRewrite.Validation(data: data, transforms: [], samples: 64, batchSize: 16, threads: 2)
        let ranked = try DropBlockRewrite.rank(graph, validation: validation)
        XCTAssertEqual(ranked.map(\.block.name), ["layer1.0", "layer1.1"])
        XCTAssertEqual(ranked[0].accuracy, 1, accuracy: 0.02)
        let result = try DropBlockRewrite.apply(graph, count: 1, validation: validation)
        XCTAssertEqual(result.records.map(\.node), ["layer1.0"])
    }
}
