import PareCore
import XCTest

import PareModels

/// Whole models: the small zoo, and torchvision architectures assembled from the blocks,
/// whose parameter counts are the published ones.
final class ModelTests: XCTestCase {
    func testSmallCNN() throws {
        // conv1 1*32*9 + 32 = 320, conv2 32*64*9 + 64 = 18,496,
        // fc1 64*5*5*128 + 128 = 204,928, fc2 128*10 + 10 = 1,290 -> 225,034.
        let graph = try smallCNN()
        try graph.validate()
        XCTAssertEqual(try graph.trainableParameterCount(), 225_034)
        XCTAssertEqual(try graph.trainableParameterNames(),
                       ["conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias",
                        "fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"])
        XCTAssertEqual(graph.parameters["fc1.weight"]?.shape, [128, 1600])
        XCTAssertEqual(try graph.inferShapes()[graph.outputs[0]], [10])
    }

    func testTinyResidualNet() throws {
        // conv1 3*16*9 = 432, bn1 32; layer1.0: conv1 16*32*9 = 4,608, bn1 64, conv2 32*32*9 = 9,216,
        // bn2 64, downsample 16*32 = 512 + 64; mix.conv 32*16 = 512, mix.depthwise 32*9 = 288,
        // mix.bn 64; fc 32*10 + 10 = 330 -> 16,186.
        let graph = try tinyResidualNet(classes: 10)
        try graph.validate()
        XCTAssertEqual(try graph.trainableParameterCount(), 16_186)
        XCTAssertEqual(try graph.inferShapes()[graph.outputs[0]], [10])
        let convolutions = graph.nodes.compactMap { node -> Conv2dAttributes? in
            if case let .conv2d(attributes) = node.op { return attributes } else { return nil }
        }
        XCTAssertTrue(graph.nodes.contains { $0.op == .add })
        XCTAssertTrue(graph.nodes.contains { $0.op == .channelShuffle(groups: 2) })
        XCTAssertTrue(convolutions.contains { $0.groups == 2 })
        XCTAssertTrue(convolutions.contains { $0.groups == 32 && $0.outChannels == 32 }, "a depthwise conv")

        let grey = try tinyResidualNet(input: [1, 28, 28], classes: 3)
        XCTAssertEqual(try grey.inferShapes()[grey.outputs[0]], [3])
    }

    func testResNet18FromBasicBlocks() throws {
        let graph = try resnet(block: .basic, layers: [2, 2, 2, 2])
        XCTAssertEqual(try graph.trainableParameterCount(), 11_689_512)
        XCTAssertEqual(try graph.parameterSpecs().count, 122, "torchvision resnet18 state dict has 122 entries")
    }

    func testResNet50FromBottlenecks() throws {
        let graph = try resnet(block: .bottleneck, layers: [3, 4, 6, 3])
        XCTAssertEqual(try graph.trainableParameterCount(), 25_557_032)
        XCTAssertEqual(try graph.parameterSpecs().count, 320, "torchvision resnet50 state dict has 320 entries")
    }

    func testMobileNetV2FromInvertedResiduals() throws {
        var b = GraphBuilder()
        var x = b.input([3, 224, 224])
        x = b.conv2d(x, "features.0.0", outChannels: 32, kernelSize: 3, stride: 2, padding: 1, bias: false)
        x = b.relu6(b.batchNorm(x, "features.0.1"))
        var index = 1
        for (expandRatio, channels, repeats, stride) in [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
                                                         (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)] {
            for position in 0..<repeats {
                x = b.invertedResidual(x, "features.\(index)", outChannels: channels, stride: position == 0 ? stride : 1,
                                       expandRatio: expandRatio)
                index += 1
            }
        }
        x = b.conv2d(x, "features.18.0", outChannels: 1280, kernelSize: 1, bias: false)
        x = b.relu6(b.batchNorm(x, "features.18.1"))
        x = b.dropout(b.flatten(b.globalAvgPool(x)), probability: 0.2)
        x = b.linear(x, "classifier.1", outFeatures: 1000)
        let graph = try b.buildWithoutParameters(outputs: [x])
        XCTAssertEqual(try graph.trainableParameterCount(), 3_504_872)
        XCTAssertEqual(try graph.parameterSpecs().count, 314, "torchvision mobilenet_v2 state dict has 314 entries")
        XCTAssertTrue(try graph.parameterSpecs().contains { $0.name == "features.17.conv.2.weight" && $0.spec.shape == [320, 960, 1, 1] })
    }

    private enum ResidualBlock { case basic, bottleneck }

    /// torchvision's ResNet with 1000 classes (structure only: initialising 25M parameters
    /// in a debug build takes seconds).
    private func resnet(block: ResidualBlock, layers: [Int]) throws -> Graph {
        var b = GraphBuilder()
        var x = b.input([3, 224, 224])
        x = b.conv2d(x, "conv1", outChannels: 64, kernelSize: 7, stride: 2, padding: 3, bias: false)
        x = b.maxPool(b.relu(b.batchNorm(x, "bn1")), kernelSize: 3, stride: 2, padding: 1)
        for (stage, blocks) in layers.enumerated() {
            let planes = 64 << stage
            for index in 0..<blocks {
                let name = "layer\(stage + 1).\(index)", stride = stage > 0 && index == 0 ? 2 : 1
                switch block {
                case .basic: x = b.basicBlock(x, name, planes: planes, stride: stride)
                case .bottleneck: x = b.bottleneck(x, name, planes: planes, stride: stride)
                }
            }
        }
        x = b.linear(b.flatten(b.globalAvgPool(x)), "fc", outFeatures: 1000)
        return try b.buildWithoutParameters(outputs: [x])
    }
}
