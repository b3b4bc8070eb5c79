import PareCore

/// The slimmed ResNet-18s of seeds/000 ("resnet-18-精简", trained on an ImageNet subset at
/// 224x224), rebuilt from the torchsummary tables the seed prints:
///
/// - `conv1`: 3x3 conv to 64 channels, stride 1, padding 3 (the 7x7 stem's padding kept:
///   224 -> 228), `bn1`, relu, 3x3 max pool stride 2 padding 1 (228 -> 114);
/// - three stages `layer1` ... `layer3` of 128, 256 and 512 channels (no 64-channel stage),
///   each of `blocksPerStage` basic blocks; the first block of a stage changes the channel
///   count, so it has a 1x1 conv shortcut, with stride 1 in `layer1` and 2 in the others
///   (114 -> 57 -> 29);
/// - global average pool, flatten, `fc`.
///
/// `blocksPerStage: 1` is the first table (5,337,128 parameters at 1000 classes),
/// `blocksPerStage: 2` the second (11,533,864).
///
/// The seed shows its tables, not its code, so two details are choices: the parameter names
/// are torchvision's (`layerS.B.conv1`, `downsample.0`/`.1`, `fc`), and the max pool's window
/// is torchvision's 3x3 stride 2 padding 1 (a 2x2 stride-2 pool would give the same 114).
/// The blocks are torchvision's `BasicBlock`, which matches the tables' layer order: conv,
/// bn, relu, conv, bn, shortcut conv, shortcut bn, then relu after the add.
public func slimResNet18(blocksPerStage: Int, input: Shape = [3, 224, 224], classes: Int = 1000, seed: UInt64 = 0,
                         withParameters: Bool = true) throws -> Graph {
    let model = "resnet18-slim-b\(blocksPerStage)"
    guard blocksPerStage >= 1 else {
        throw ZooOptionError(model: model, reason: "blocks per stage must be positive, got \(blocksPerStage)")
    }
    var b = GraphBuilder()
    var x = b.input(input)
    x = b.conv2d(x, "conv1", outChannels: 64, kernelSize: 3, stride: 1, padding: 3, bias: false)
    x = b.relu(b.batchNorm(x, "bn1"))
    x = b.maxPool(x, kernelSize: 3, stride: 2, padding: 1)
    for (stage, planes) in [128, 256, 512].enumerated() {
        for index in 0..<blocksPerStage {
            let stride = stage > 0 && index == 0 ? 2 : 1
            x = b.basicBlock(x, "layer\(stage + 1).\(index)", planes: planes, stride: stride)
        }
    }
    x = b.linear(b.flatten(b.globalAvgPool(x)), "fc", outFeatures: classes)
    return try b.finishModel(x, model: model, seed: seed, withParameters: withParameters)
}
