import PareCore

/// torchvision's ResNets (`resnet18` ... `resnet152`; ResNet v1.5: a bottleneck's stride is
/// on its 3x3 conv), in two forms:
///
/// - `.imageNet`, exactly torchvision's: `conv1` 7x7 stride 2 padding 3, `bn1`, relu, 3x3
///   max pool stride 2 padding 1, `layer1` ... `layer4` (64/128/256/512 planes; basic blocks
///   for 18 and 34, bottlenecks of expansion 4 for 50, 101 and 152), global average pool,
///   flatten, `fc`.
/// - `.cifar`, the usual CIFAR adaptation (the model of seeds/002): `conv1` 3x3 stride 1
///   padding 1 and no max pool; everything else, parameter names included, as torchvision.
///   (The seed's own code names the shortcut `shortcut` and the classifier `linear`; its
///   weights load after renaming those to `downsample` and `fc`.)
///
/// Blocks per stage: 18 `[2, 2, 2, 2]`, 34 and 50 `[3, 4, 6, 3]`, 101 `[3, 4, 23, 3]`,
/// 152 `[3, 8, 36, 3]`. `input` is `[channels, height, width]`; its channel count sets
/// `conv1`'s. With `withParameters: false` the graph has its structure only.
public func resnet(depth: Int, form: ModelForm, input: Shape, classes: Int, seed: UInt64 = 0,
                   withParameters: Bool = true) throws -> Graph {
    let model = form == .imageNet ? "resnet\(depth)" : "resnet\(depth)-cifar"
    let bottleneck: Bool, blocks: [Int]
    switch depth {
    case 18: (bottleneck, blocks) = (false, [2, 2, 2, 2])
    case 34: (bottleneck, blocks) = (false, [3, 4, 6, 3])
    case 50: (bottleneck, blocks) = (true, [3, 4, 6, 3])
    case 101: (bottleneck, blocks) = (true, [3, 4, 23, 3])
    case 152: (bottleneck, blocks) = (true, [3, 8, 36, 3])
    default: throw ZooOptionError(model: model, reason: "ResNet depth must be 18, 34, 50, 101 or 152")
    }

    var b = GraphBuilder()
    var x = b.input(input)
    switch form {
    case .imageNet:
        x = b.conv2d(x, "conv1", outChannels: 64, kernelSize: 7, stride: 2, padding: 3, bias: false)
        x = b.relu(b.batchNorm(x, "bn1"))
        x = b.maxPool(x, kernelSize: 3, stride: 2, padding: 1)
    case .cifar:
        x = b.conv2d(x, "conv1", outChannels: 64, kernelSize: 3, stride: 1, padding: 1, bias: false)
        x = b.relu(b.batchNorm(x, "bn1"))
    }
    for (stage, count) in blocks.enumerated() {
        let planes = 64 << stage
        for index in 0..<count {
            let name = "layer\(stage + 1).\(index)"
            let stride = stage > 0 && index == 0 ? 2 : 1
            x = bottleneck ? b.bottleneck(x, name, planes: planes, stride: stride)
                           : b.basicBlock(x, name, planes: planes, stride: stride)
        }
    }
    x = b.linear(b.flatten(b.globalAvgPool(x)), "fc", outFeatures: classes)
    return try b.finishModel(x, model: model, seed: seed, withParameters: withParameters)
}
