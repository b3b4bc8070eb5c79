import PareCore
import PareModels

// The models of issue #3's table and of seeds/000, written here with the builder's blocks so
// that these tests do not depend on the zoo. Structure only (no parameters): counting needs
// none, and a debug build then stays fast. When the zoo has them, the torchvision ones can
// switch to `Zoo.build(name, options: ZooOptions(withParameters: false))`.

/// torchvision's `ResNet`: `BasicBlock` (expansion 1) or `Bottleneck` (expansion 4).
enum ResNetBlock { case basic, bottleneck }

/// torchvision's ResNet with `layers` blocks per stage. The ImageNet stem is conv 7x7 stride 2,
/// bn, relu, max-pool 3x3 stride 2; the CIFAR stem (seeds/002) is conv 3x3 stride 1, bn, relu
/// and no max-pool. Then global average pooling (`nn.AdaptiveAvgPool2d`), flatten, `fc`.
func resNet(_ block: ResNetBlock, layers: [Int], classes: Int, input: Shape, cifarStem: Bool) throws -> Graph {
    var b = GraphBuilder()
    var x = b.input(input)
    if cifarStem {
        x = b.conv2d(x, "conv1", outChannels: 64, kernelSize: 3, stride: 1, padding: 1, bias: false)
        x = b.relu(b.batchNorm(x, "bn1"))
    } else {
        x = b.conv2d(x, "conv1", outChannels: 64, kernelSize: 7, stride: 2, padding: 3, bias: false)
        x = b.relu(b.batchNorm(x, "bn1"))
        x = b.maxPool(x, kernelSize: 3, stride: 2, padding: 1)
    }
    for (stage, count) in layers.enumerated() {
        for index in 0..<count {
            let prefix = "layer\(stage + 1).\(index)"
            let planes = 64 << stage
            let stride = stage > 0 && index == 0 ? 2 : 1
            switch block {
            case .basic: x = b.basicBlock(x, prefix, planes: planes, stride: stride)
            case .bottleneck: x = b.bottleneck(x, prefix, planes: planes, stride: stride)
            }
        }
    }
    x = b.linear(b.flatten(b.globalAvgPool(x)), "fc", outFeatures: classes)
    return try b.buildWithoutParameters(outputs: [x])
}

/// torchvision's `mobilenet_v2()` (width 1.0): `features.0` conv 3x3 stride 2 to 32, bn,
/// relu6; 17 inverted residuals; `features.18` conv 1x1 to 1280, bn, relu6; then
/// `F.adaptive_avg_pool2d` (a function, not a module), flatten, `classifier.0` dropout 0.2,
/// `classifier.1` linear.
func mobileNetV2(classes: Int = 1000, input: Shape = [3, 224, 224]) throws -> Graph {
    var b = GraphBuilder()
    var x = b.input(input)
    x = b.conv2d(x, "features.0.0", outChannels: 32, kernelSize: 3, stride: 2, padding: 1, bias: false)
    x = b.relu6(b.batchNorm(x, "features.0.1"))
    // (expand ratio t, output channels c, blocks n, first stride s), as torchvision.
    let settings = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2),
                    (6, 320, 1, 1)]
    var feature = 1
    for (t, c, n, s) in settings {
        for index in 0..<n {
            x = b.invertedResidual(x, "features.\(feature)", outChannels: c, stride: index == 0 ? s : 1, expandRatio: t)
            feature += 1
        }
    }
    x = b.conv2d(x, "features.\(feature).0", outChannels: 1280, kernelSize: 1, bias: false)
    x = b.relu6(b.batchNorm(x, "features.\(feature).1"))
    x = b.dropout(b.flatten(b.globalAvgPool(x)), probability: 0.2)
    x = b.linear(x, "classifier.1", outFeatures: classes)
    return try b.buildWithoutParameters(outputs: [x])
}

/// The slimmed ResNet-18 of seeds/000, rebuilt from its torchsummary tables: conv 3x3 with
/// padding 3 (224 -> 228), bn, relu, max-pool 3x3 stride 2 (-> 114), `ResidualBlock`s of
/// (output channels, stride) `blocks` (each conv-bn-relu-conv-bn, a 1x1 conv-bn shortcut when
/// the shape changes, add, relu), global average pooling, linear to 1000.
func seedSlimResNet(blocks: [(channels: Int, stride: Int)]) throws -> Graph {
    var b = GraphBuilder()
    var x = b.input([3, 224, 224])
    x = b.conv2d(x, "conv1", outChannels: 64, kernelSize: 3, padding: 3, bias: false)
    x = b.relu(b.batchNorm(x, "bn1"))
    x = b.maxPool(x, kernelSize: 3, stride: 2, padding: 1)
    for (index, block) in blocks.enumerated() {
        x = b.basicBlock(x, "layers.\(index)", planes: block.channels, stride: block.stride)
    }
    x = b.linear(b.flatten(b.globalAvgPool(x)), "fc", outFeatures: 1000)
    return try b.buildWithoutParameters(outputs: [x])
}
