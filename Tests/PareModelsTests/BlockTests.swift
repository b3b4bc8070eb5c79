import PareCore
import XCTest

import PareModels

/// Blocks against torchvision: parameter counts (trainable, as `sum(p.numel() for p in
/// block.parameters())`) and state-dict names in order.
final class BlockTests: XCTestCase {
    /// Builds `block` on an input of `shape` and checks that the graph validates.
    private func build(_ shape: Shape,
                       _ block: (inout GraphBuilder, GraphBuilder.Value) -> GraphBuilder.Value) throws -> Graph {
        var b = GraphBuilder()
        let x = b.input(shape)
        let y = block(&b, x)
        let graph = try b.build(outputs: [y], seed: 0)
        try graph.validate()
        return graph
    }

    /// State-dict names of a module: its convs (`weight`) and batch norms (five entries).
    private func stateDict(_ modules: [(String, isBatchNorm: Bool)]) -> [String] {
        modules.flatMap { name, isBatchNorm in
            isBatchNorm
                ? ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"].map { "\(name).\($0)" }
                : ["\(name).weight"]
        }
    }

    private func outputShape(_ graph: Graph) throws -> Shape { try graph.inferShapes()[graph.outputs[0]] }

    func testBasicBlockMatchesTorchvision() throws {
        // torchvision BasicBlock(64, 64): conv1 64*64*9 = 36,864, bn1 2*64 = 128,
        // conv2 36,864, bn2 128 -> 73,984.
        let graph = try build([64, 56, 56]) { b, x in b.basicBlock(x, "layer1.0", planes: 64) }
        XCTAssertEqual(try graph.trainableParameterCount(), 73_984)
        XCTAssertEqual(try graph.parameterSpecs().map(\.name), stateDict([
            ("layer1.0.conv1", false), ("layer1.0.bn1", true), ("layer1.0.conv2", false), ("layer1.0.bn2", true),
        ]))
        XCTAssertEqual(try outputShape(graph), [64, 56, 56])
        XCTAssertEqual(graph.nodes.filter { $0.op == .add }.count, 1)
    }

    func testBasicBlockWithDownsampleMatchesTorchvision() throws {
        // torchvision resnet18 layer2.0 = BasicBlock(64, 128, stride=2, downsample):
        // conv1 64*128*9 = 73,728, bn1 256, conv2 128*128*9 = 147,456, bn2 256,
        // downsample.0 128*64 = 8,192, downsample.1 256 -> 230,144.
        let graph = try build([64, 56, 56]) { b, x in b.basicBlock(x, "layer2.0", planes: 128, stride: 2) }
        XCTAssertEqual(try graph.trainableParameterCount(), 230_144)
        XCTAssertEqual(try graph.parameterSpecs().map(\.name), stateDict([
            ("layer2.0.conv1", false), ("layer2.0.bn1", true), ("layer2.0.conv2", false), ("layer2.0.bn2", true),
            ("layer2.0.downsample.0", false), ("layer2.0.downsample.1", true),
        ]))
        XCTAssertEqual(try outputShape(graph), [128, 28, 28])
    }

    func testBottleneckMatchesTorchvision() throws {
        // torchvision Bottleneck(256, 64): conv1 256*64 = 16,384, bn1 128, conv2 64*64*9 = 36,864,
        // bn2 128, conv3 64*256 = 16,384, bn3 512 -> 70,400.
        let graph = try build([256, 56, 56]) { b, x in b.bottleneck(x, "layer1.1", planes: 64) }
        XCTAssertEqual(try graph.trainableParameterCount(), 70_400)
        XCTAssertEqual(try graph.parameterSpecs().map(\.name), stateDict([
            ("layer1.1.conv1", false), ("layer1.1.bn1", true), ("layer1.1.conv2", false), ("layer1.1.bn2", true),
            ("layer1.1.conv3", false), ("layer1.1.bn3", true),
        ]))
        XCTAssertEqual(try outputShape(graph), [256, 56, 56])
    }

    func testBottleneckWithDownsampleMatchesTorchvision() throws {
        // torchvision resnet50 layer2.0 = Bottleneck(256, 128, stride=2, downsample):
        // conv1 256*128 = 32,768, bn1 256, conv2 128*128*9 = 147,456 (stride here, v1.5), bn2 256,
        // conv3 128*512 = 65,536, bn3 1,024, downsample.0 256*512 = 131,072, downsample.1 1,024
        // -> 379,392.
        let graph = try build([256, 56, 56]) { b, x in b.bottleneck(x, "layer2.0", planes: 128, stride: 2) }
        XCTAssertEqual(try graph.trainableParameterCount(), 379_392)
        XCTAssertEqual(try outputShape(graph), [512, 28, 28])
        XCTAssertEqual(graph.parameters["layer2.0.conv1.weight"]?.shape, [128, 256, 1, 1])
        XCTAssertEqual(graph.parameters["layer2.0.downsample.0.weight"]?.shape, [512, 256, 1, 1])
        guard let conv2 = graph.nodes.first(where: { $0.name == "layer2.0.conv2" }),
              case let .conv2d(attributes) = conv2.op else { return XCTFail("no layer2.0.conv2") }
        XCTAssertEqual(attributes.stride, [2, 2], "ResNet v1.5 strides in the 3x3 conv")
    }

    func testInvertedResidualWithoutExpansionMatchesTorchvision() throws {
        // torchvision mobilenet_v2 features.1 = InvertedResidual(32, 16, stride=1, expand_ratio=1):
        // conv.0.0 depthwise 32*1*9 = 288, conv.0.1 64, conv.1 16*32 = 512, conv.2 32 -> 896.
        let graph = try build([32, 112, 112]) { b, x in
            b.invertedResidual(x, "features.1", outChannels: 16, stride: 1, expandRatio: 1)
        }
        XCTAssertEqual(try graph.trainableParameterCount(), 896)
        XCTAssertEqual(try graph.parameterSpecs().map(\.name), stateDict([
            ("features.1.conv.0.0", false), ("features.1.conv.0.1", true), ("features.1.conv.1", false),
            ("features.1.conv.2", true),
        ]))
        XCTAssertEqual(graph.parameters["features.1.conv.0.0.weight"]?.shape, [32, 1, 3, 3])
        XCTAssertEqual(try outputShape(graph), [16, 112, 112])
        XCTAssertFalse(graph.nodes.contains { $0.op == .add }, "no residual when channels change")
    }

    func testInvertedResidualWithExpansionMatchesTorchvision() throws {
        // torchvision mobilenet_v2 features.2 = InvertedResidual(16, 24, stride=2, expand_ratio=6),
        // hidden 96: conv.0.0 96*16 = 1,536, conv.0.1 192, conv.1.0 96*9 = 864, conv.1.1 192,
        // conv.2 24*96 = 2,304, conv.3 48 -> 5,136.
        let graph = try build([16, 112, 112]) { b, x in
            b.invertedResidual(x, "features.2", outChannels: 24, stride: 2, expandRatio: 6)
        }
        XCTAssertEqual(try graph.trainableParameterCount(), 5_136)
        XCTAssertEqual(try graph.parameterSpecs().map(\.name), stateDict([
            ("features.2.conv.0.0", false), ("features.2.conv.0.1", true), ("features.2.conv.1.0", false),
            ("features.2.conv.1.1", true), ("features.2.conv.2", false), ("features.2.conv.3", true),
        ]))
        XCTAssertEqual(try outputShape(graph), [24, 56, 56])
        XCTAssertFalse(graph.nodes.contains { $0.op == .add }, "no residual with stride 2")
        XCTAssertEqual(graph.nodes.filter { $0.op == .relu6 }.count, 2)
    }

    func testInvertedResidualAddsTheInputWhenShapesAgree() throws {
        // features.3 = InvertedResidual(24, 24, stride=1, expand_ratio=6), hidden 144:
        // 144*24 = 3,456 + 288 + 144*9 = 1,296 + 288 + 24*144 = 3,456 + 48 -> 8,832.
        let graph = try build([24, 56, 56]) { b, x in
            b.invertedResidual(x, "features.3", outChannels: 24, stride: 1, expandRatio: 6)
        }
        XCTAssertEqual(try graph.trainableParameterCount(), 8_832)
        let output = graph.nodes[graph.outputs[0]]
        XCTAssertEqual(output.op, .add)
        XCTAssertEqual(output.inputs.first, 0, "the residual reads the block input")
    }

    func testShuffleNetV2DownsampleUnitMatchesTorchvision() throws {
        // torchvision shufflenet_v2_x1_0 stage2.0 = InvertedResidual(24, 116, stride=2), 58 per branch:
        // branch1: 24*9 = 216 + 48 + 58*24 = 1,392 + 116 = 1,772;
        // branch2: 58*24 = 1,392 + 116 + 58*9 = 522 + 116 + 58*58 = 3,364 + 116 = 5,626 -> 7,398.
        let graph = try build([24, 56, 56]) { b, x in b.shuffleNetV2DownsampleUnit(x, "stage2.0", outChannels: 116) }
        XCTAssertEqual(try graph.trainableParameterCount(), 7_398)
        XCTAssertEqual(try graph.parameterSpecs().map(\.name), stateDict([
            ("stage2.0.branch1.0", false), ("stage2.0.branch1.1", true), ("stage2.0.branch1.2", false),
            ("stage2.0.branch1.3", true),
            ("stage2.0.branch2.0", false), ("stage2.0.branch2.1", true), ("stage2.0.branch2.3", false),
            ("stage2.0.branch2.4", true), ("stage2.0.branch2.5", false), ("stage2.0.branch2.6", true),
        ]))
        XCTAssertEqual(try outputShape(graph), [116, 28, 28])
        XCTAssertEqual(graph.nodes[graph.outputs[0]].op, .channelShuffle(groups: 2))
        XCTAssertEqual(graph.parameters["stage2.0.branch1.0.weight"]?.shape, [24, 1, 3, 3])
        XCTAssertEqual(graph.parameters["stage2.0.branch2.3.weight"]?.shape, [58, 1, 3, 3])
    }

    func testShuffleNetV2UnitMatchesTorchvision() throws {
        // torchvision shufflenet_v2_x1_0 stage2.1 = InvertedResidual(116, 116, stride=1): the input is
        // split into two halves of 58; branch2 on the second: 58*58 = 3,364 + 116 + 58*9 = 522 + 116
        // + 3,364 + 116 -> 7,598 (no branch1).
        let graph = try build([116, 28, 28]) { b, x in b.shuffleNetV2Unit(x, "stage2.1") }
        XCTAssertEqual(try graph.trainableParameterCount(), 7_598)
        XCTAssertEqual(try graph.parameterSpecs().map(\.name), stateDict([
            ("stage2.1.branch2.0", false), ("stage2.1.branch2.1", true), ("stage2.1.branch2.3", false),
            ("stage2.1.branch2.4", true), ("stage2.1.branch2.5", false), ("stage2.1.branch2.6", true),
        ]))
        XCTAssertEqual(try outputShape(graph), [116, 28, 28])
        XCTAssertTrue(graph.nodes.contains { $0.op == .channelSlice(start: 0, count: 58) })
        XCTAssertTrue(graph.nodes.contains { $0.op == .channelSlice(start: 58, count: 58) })
        XCTAssertEqual(graph.nodes[graph.outputs[0]].op, .channelShuffle(groups: 2))
    }

    func testShuffleNetV1Unit() throws {
        // 240 channels, 3 groups, bottleneck 60: conv1 60*(240/3) = 4,800, bn1 120,
        // conv2 depthwise 60*9 = 540, bn2 120, conv3 240*(60/3) = 4,800, bn3 480 -> 10,860.
        let graph = try build([240, 28, 28]) { b, x in b.shuffleNetV1Unit(x, "stage3.1", groups: 3) }
        XCTAssertEqual(try graph.trainableParameterCount(), 10_860)
        XCTAssertEqual(try outputShape(graph), [240, 28, 28])
        XCTAssertTrue(graph.nodes.contains { $0.op == .channelShuffle(groups: 3) })
        XCTAssertTrue(graph.nodes.contains { $0.op == .add })
        XCTAssertEqual(graph.parameters["stage3.1.conv1.weight"]?.shape, [60, 80, 1, 1])
        XCTAssertEqual(graph.parameters["stage3.1.conv2.weight"]?.shape, [60, 1, 3, 3])
    }

    func testBlockErrorNamesTheBlockLayer() {
        // 30 channels do not split into 4 groups of the v1 unit's grouped 1x1 conv.
        XCTAssertThrowsError(try build([30, 8, 8]) { b, x in b.shuffleNetV1Unit(x, "unit", groups: 4) }) { error in
            guard case let GraphError.invalidNode(_, node, _, _) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(node, "unit.conv1")
        }
    }
}
