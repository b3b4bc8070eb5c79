import PareCore

/// The depthwise+pointwise StudentNet of seeds/003 (Food-11, 11 classes, 274,763
/// parameters), as the module printout in the seed's knowledge-distillation answer shows it:
///
/// - `cnn.0`: 3x3 conv 3 -> 32 stride 2 padding 1 without bias (`cnn.0.0`), bn (`cnn.0.1`),
///   relu;
/// - `cnn.1` ... `cnn.7`: depthwise 3x3 conv (`cnn.k.0`, padding 1, no bias), bn (`cnn.k.1`),
///   relu, pointwise 1x1 conv (`cnn.k.3`, no bias), bn (`cnn.k.4`), relu; channels 32 -> 64,
///   64 -> 128 (stride 2), 128 -> 128, 128 -> 256 (stride 2), then 256 -> 256 three times;
/// - global average pool (`cnn.8`), flatten, linear `fc.0` from 256 features.
///
/// The seed's prose says ReLU6 but its printout says `ReLU(inplace=True)`; the printout is
/// what PyTorch ran, so this is ReLU. The default input, 128x128, is the seed's (its
/// ResNet-18 teacher's table has a 64x64 map after the stride-2 stem).
public func studentNet(input: Shape = [3, 128, 128], classes: Int = 11, seed: UInt64 = 0,
                       withParameters: Bool = true) throws -> Graph {
    var b = GraphBuilder()
    var x = b.input(input)
    x = b.conv2d(x, "cnn.0.0", outChannels: 32, kernelSize: 3, stride: 2, padding: 1, bias: false)
    x = b.relu(b.batchNorm(x, "cnn.0.1"))
    let blocks: [(outChannels: Int, stride: Int)] = [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (256, 1), (256, 1)]
    for (offset, block) in blocks.enumerated() {
        let name = "cnn.\(offset + 1)"
        x = b.conv2d(x, "\(name).0", outChannels: x.channels, kernelSize: 3, stride: block.stride, padding: 1,
                     groups: x.channels, bias: false)
        x = b.relu(b.batchNorm(x, "\(name).1"))
        x = b.conv2d(x, "\(name).3", outChannels: block.outChannels, kernelSize: 1, bias: false)
        x = b.relu(b.batchNorm(x, "\(name).4"))
    }
    x = b.linear(b.flatten(b.globalAvgPool(x)), "fc.0", outFeatures: classes)
    return try b.finishModel(x, model: "studentnet", seed: seed, withParameters: withParameters)
}
