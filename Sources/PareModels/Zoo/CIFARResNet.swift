import PareCore

/// The CIFAR ResNets of He et al. 2015 (section 4.2): `resnet20`, `resnet32`, `resnet44`,
/// `resnet56`, `resnet110`, the pruning literature's benchmark.
///
/// `conv1` 3x3 to 16 channels (stride 1, padding 1), `bn1`, relu; three stages `layer1` ...
/// `layer3` of `n = (depth - 2) / 6` basic blocks with 16, 32 and 64 channels (the first
/// block of stages 2 and 3 has stride 2); global average pool, flatten, `fc`. Names follow
/// torchvision's ResNet.
///
/// Shortcuts where the shape changes use option B of the paper, a 1x1 conv with stride 2
/// and batch norm (`downsample.0`, `downsample.1`, as torchvision). Much of the pruning
/// literature (and the paper's own CIFAR table) uses option A, an identity shortcut that
/// subsamples and zero-pads channels, which Pare's ops cannot express; option B adds 2,752
/// parameters at every depth (resnet20: 272,474 instead of 269,722).
public func cifarResNet(depth: Int, input: Shape = [3, 32, 32], classes: Int = 10, seed: UInt64 = 0,
                        withParameters: Bool = true) throws -> Graph {
    let model = "resnet\(depth)"
    guard depth >= 8, (depth - 2) % 6 == 0 else {
        throw ZooOptionError(model: model, reason: "CIFAR ResNet depth must be 6n+2 (20, 32, 44, 56, 110, ...)")
    }
    let blocksPerStage = (depth - 2) / 6
    var b = GraphBuilder()
    var x = b.input(input)
    x = b.conv2d(x, "conv1", outChannels: 16, kernelSize: 3, padding: 1, bias: false)
    x = b.relu(b.batchNorm(x, "bn1"))
    for (stage, planes) in [16, 32, 64].enumerated() {
        for index in 0..<blocksPerStage {
            let stride = stage > 0 && index == 0 ? 2 : 1
            x = b.basicBlock(x, "layer\(stage + 1).\(index)", planes: planes, stride: stride)
        }
    }
    x = b.linear(b.flatten(b.globalAvgPool(x)), "fc", outFeatures: classes)
    return try b.finishModel(x, model: model, seed: seed, withParameters: withParameters)
}
