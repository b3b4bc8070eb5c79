import Foundation
import PareAnalysis
import PareCore
import PareIO
import PareModels
import XCTest

final class ModelSummaryTests: XCTestCase {
    /// One row of issue #3's table: PyTorch's parameter count, fvcore's conv+linear MACs and
    /// thop's total, at batch 1.
    private func assertRow(_ graph: Graph, parameters: Int, macs: Int, thop: Int,
                           file: StaticString = #filePath, line: UInt = #line) throws {
        let summary = try ModelSummary(graph: graph)
        XCTAssertEqual(summary.totalParameters, parameters, "parameters", file: file, line: line)
        XCTAssertEqual(summary.operations.macs, macs, "conv+linear MACs", file: file, line: line)
        XCTAssertEqual(summary.flops, 2 * macs, "FLOPs", file: file, line: line)
        XCTAssertEqual(summary.operations.thop, thop, "thop total", file: file, line: line)
    }

    // MARK: Issue #3's table

    func testResNet18Row() throws {
        let graph = try resNet(.basic, layers: [2, 2, 2, 2], classes: 1000, input: [3, 224, 224], cifarStem: false)
        try assertRow(graph, parameters: 11_689_512, macs: 1_814_073_344, thop: 1_824_033_792)
    }

    func testResNet50Row() throws {
        let graph = try resNet(.bottleneck, layers: [3, 4, 6, 3], classes: 1000, input: [3, 224, 224], cifarStem: false)
        try assertRow(graph, parameters: 25_557_032, macs: 4_089_184_256, thop: 4_133_742_592)
    }

    func testResNet18CIFARRow() throws {
        let graph = try resNet(.basic, layers: [2, 2, 2, 2], classes: 10, input: [3, 32, 32], cifarStem: true)
        try assertRow(graph, parameters: 11_173_962, macs: 555_422_720, thop: 557_889_024)
    }

    func testResNet50CIFARRow() throws {
        // The seed report's "FLOPs: 1.312G, Parameters: 23.521M".
        let graph = try resNet(.bottleneck, layers: [3, 4, 6, 3], classes: 10, input: [3, 32, 32], cifarStem: true)
        try assertRow(graph, parameters: 23_520_842, macs: 1_297_829_888, thop: 1_311_594_496)
    }

    /// Conv+linear MACs of the mobile models with squeeze-and-excitation at 224x224, as
    /// forward hooks on torchvision 0.28's modules count them (Cout·Hout·Wout·Cin/groups·kh·kw
    /// per Conv2d, in·out per Linear; the SE gates' 1x1 convs included). torchvision's
    /// weights list these as 0.057, 0.217 and 0.386 GFLOPS.
    func testMobileModelsMACsArePyTorchs() throws {
        for (name, macs) in [("mobilenet_v3_small", 56_510_400), ("mobilenet_v3_large", 216_589_760),
                             ("efficientnet_b0", 385_814_752)] {
            let summary = try ModelSummary(graph: try Zoo.build(name, options: ZooOptions(withParameters: false)))
            XCTAssertEqual(summary.operations.macs, macs, name)
        }
    }

    func testSmallCNNRow() throws {
        try assertRow(try smallCNN(), parameters: 225_034, macs: 2_631_040, thop: 2_631_040)
    }

    /// thop reports 327,486,720 for torchvision's mobilenet_v2, which pools with
    /// `F.adaptive_avg_pool2d`: a function, so thop's module hooks never see it. Pare's graph
    /// does not record module versus function and counts its globalAvgPool node by the module
    /// rule, (7*7 + 1) * 1280 = 64,000 more; without that node the total is thop's exactly.
    func testMobileNetV2RowDiffersFromThopByTheFunctionalPool() throws {
        let summary = try ModelSummary(graph: try mobileNetV2())
        XCTAssertEqual(summary.totalParameters, 3_504_872)
        XCTAssertEqual(summary.operations.macs, 300_774_272)
        XCTAssertEqual(summary.thopByOp["globalAvgPool"], 64_000)
        XCTAssertEqual(summary.operations.thop - 64_000, 327_486_720)
    }

    /// resnet18's thop total less its conv+linear MACs (9,960,448) is exactly batch norm at 4
    /// per element (2,483,712 elements) and the average pool at 7*7+1 per output (512 outputs):
    /// relu, max-pool and the adds count nothing.
    func testResNet18ThopBreakdown() throws {
        let graph = try resNet(.basic, layers: [2, 2, 2, 2], classes: 1000, input: [3, 224, 224], cifarStem: false)
        let summary = try ModelSummary(graph: graph)
        XCTAssertEqual(summary.thopByOp, ["conv2d": 1_813_561_344, "linear": 512_000,
                                          "batchNorm": 4 * 2_483_712, "globalAvgPool": 50 * 512])
        // BN running mean and variance (4,800 channels in 20 BNs) and 20 batch counts.
        XCTAssertEqual(summary.bufferElements, 2 * 4_800 + 20)
    }

    // MARK: torchsummary's sizes

    /// smallcnn, by hand. Outputs per sample: conv1 and its relu 32*26*26 = 21,632 each, pool
    /// 32*13*13 = 5,408, conv2 and relu 64*11*11 = 7,744 each, pool 64*5*5 = 1,600, fc1 and
    /// relu 128 each, fc2 10: 66,026 elements (flatten is a view and does not count).
    /// Input 1*28*28*4 B = 0.0030 MB; forward/backward 2*66,026*4 B = 0.5037 MB; params
    /// 225,034*4 B = 0.8584 MB; total 1.3652 MB (torchsummary prints 0.00, 0.50, 0.86, 1.37).
    func testSmallCNNSizesByHand() throws {
        let summary = try ModelSummary(graph: try smallCNN())
        let mb = 1024.0 * 1024.0
        XCTAssertEqual(summary.inputMegabytes, 784 * 4 / mb)
        XCTAssertEqual(summary.forwardBackwardMegabytes, 2 * 66_026 * 4 / mb)
        XCTAssertEqual(summary.parameterMegabytes, 225_034 * 4 / mb)
        XCTAssertEqual(summary.estimatedTotalMegabytes, (784 + 2 * 66_026 + 225_034) * 4 / mb, accuracy: 1e-12)
        XCTAssertEqual(summary.layers.count, 10)
        XCTAssertEqual(summary.layers[0].name, "conv1")
        XCTAssertEqual(summary.layers[0].op, "conv2d")
        XCTAssertEqual(summary.layers[0].outputShape, [32, 26, 26])
        XCTAssertEqual(summary.layers[0].parameters, 320)
        XCTAssertEqual(summary.layers[0].operations.macs, 32 * 26 * 26 * 9)
        XCTAssertEqual(summary.inputShapes, [[1, 28, 28]])

        let table = summary.table()
        for line in ["Total params: 225,034", "Non-trainable params: 0", "Input size (MB): 0.00",
                     "Forward/backward pass size (MB): 0.50", "Params size (MB): 0.86",
                     "Estimated Total Size (MB): 1.37", "MACs (conv+linear): 2,631,040",
                     "FLOPs (2 x MACs of conv+linear): 5,262,080", "[-1, 32, 26, 26]", "conv1 (conv2d)"] {
            XCTAssertTrue(table.contains(line), "table lacks \(line):\n\(table)")
        }
    }

    /// Sizes and operations are for the batch; parameters are not.
    func testBatchScalesActivationsAndOperations() throws {
        let one = try ModelSummary(graph: try smallCNN())
        let four = try ModelSummary(graph: try smallCNN(), batch: 4)
        XCTAssertEqual(four.inputMegabytes, 4 * one.inputMegabytes)
        XCTAssertEqual(four.forwardBackwardMegabytes, 4 * one.forwardBackwardMegabytes)
        XCTAssertEqual(four.parameterMegabytes, one.parameterMegabytes)
        XCTAssertEqual(four.operations.macs, 4 * one.operations.macs)
        XCTAssertEqual(four.operations.thop, 4 * one.operations.thop)
        XCTAssertEqual(four.totalParameters, one.totalParameters)
    }

    /// The two tables of seeds/000, as torchsummary printed them (two decimals). torchsummary
    /// counts the ResidualBlock module's output where Pare counts the block's add: the same
    /// size. Neither counts the flatten (a function there, a view here): counting its 512
    /// elements would print 439.67 for the second table.
    func testSeed000SlimmedResNet18Tables() throws {
        let small = try ModelSummary(graph: try seedSlimResNet(blocks: [(128, 1), (256, 2), (512, 2)]))
        XCTAssertEqual(small.totalParameters, 5_337_128)
        XCTAssertEqual(small.trainableParameters, 5_337_128)
        XCTAssertEqual(small.nonTrainableParameters, 0)
        // 9,980,928 (stem) + 831,744 (pool) + 9 * (1,663,488 + 831,744 + 430,592) + 512 + 1,000.
        XCTAssertEqual(small.forwardBackwardMegabytes, 2 * 37_146_600 * 4 / (1024.0 * 1024.0))
        assertPrinted(small, input: "0.57", forwardBackward: "283.41", parameters: "20.36", total: "304.34")

        let large = try ModelSummary(graph: try seedSlimResNet(
            blocks: [(128, 1), (128, 1), (256, 2), (256, 1), (512, 2), (512, 1)]))
        XCTAssertEqual(large.totalParameters, 11_533_864)
        assertPrinted(large, input: "0.57", forwardBackward: "439.66", parameters: "44.00", total: "484.23")
    }

    private func assertPrinted(_ summary: ModelSummary, input: String, forwardBackward: String, parameters: String,
                               total: String, file: StaticString = #filePath, line: UInt = #line) {
        let table = summary.table()
        for expected in ["Input size (MB): \(input)", "Forward/backward pass size (MB): \(forwardBackward)",
                         "Params size (MB): \(parameters)", "Estimated Total Size (MB): \(total)"] {
            XCTAssertTrue(table.contains(expected), "table lacks \(expected):\n\(table)", file: file, line: line)
        }
    }

    // MARK: Native file size

    /// The size computed from the architecture is the size of the file `save` writes, whether
    /// or not the graph has its parameters.
    func testNativeFileSizeEqualsBytesWritten() throws {
        for graph in [try smallCNN(), try tinyResidualNet()] {
            let url = FileManager.default.temporaryDirectory.appendingPathComponent("pare-summary-\(UUID()).safetensors")
            defer { try? FileManager.default.removeItem(at: url) }
            try ModelFile.save(graph, to: url)
            let written = try FileManager.default.attributesOfItem(atPath: url.path)[.size] as? Int
            let computed = try ModelFile.encodedByteCount(graph)
            XCTAssertEqual(computed, written)
            XCTAssertEqual(computed, try ModelFile.encode(graph).encoded().count)

            var structureOnly = graph
            structureOnly.parameters = [:]
            XCTAssertEqual(try ModelFile.encodedByteCount(structureOnly), computed)
            let summary = try ModelSummary(graph: structureOnly, nativeFileBytes: computed)
            XCTAssertTrue(summary.table().contains("Native file (.safetensors): "), summary.table())
        }
    }

    func testJSONHasTotalsAndRules() throws {
        let summary = try ModelSummary(graph: try smallCNN(), nativeFileBytes: 123)
        let data = try JSONEncoder().encode(summary)
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: Any])
        XCTAssertEqual(object["totalParameters"] as? Int, 225_034)
        XCTAssertEqual(object["flops"] as? Int, 5_262_080)
        XCTAssertEqual(object["nativeFileBytes"] as? Int, 123)
        XCTAssertEqual((object["layers"] as? [Any])?.count, 10)
        XCTAssertNotNil((object["countingRules"] as? [String: String])?["thop"])
        XCTAssertNotNil(object["estimatedTotalMegabytes"] as? Double)
    }
}
