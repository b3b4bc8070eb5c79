import PareCore

/// A tiny demonstration network that uses a residual add, a grouped convolution, a channel
/// shuffle and a depthwise convolution, small enough to train in seconds on a CPU:
///
/// - stem: 3x3 conv to 16 channels (`conv1`), bn (`bn1`), relu;
/// - a ResNet basic block to 32 channels with stride 2 and a downsample shortcut (`layer1.0`);
/// - a shuffle mix: grouped 1x1 conv with 2 groups (`mix.conv`), channel shuffle (2),
///   depthwise 3x3 conv (`mix.depthwise`), bn (`mix.bn`), relu6;
/// - global average pooling, flatten, linear to `classes` (`fc`).
///
/// `input` is the per-sample image shape, `[channels, height, width]`.
public func tinyResidualNet(input: Shape = [3, 32, 32], classes: Int = 10, seed: UInt64 = 0,
                            withParameters: Bool = true) throws -> Graph {
    var b = GraphBuilder()
    var x = b.input(input)
    x = b.conv2d(x, "conv1", outChannels: 16, kernelSize: 3, padding: 1, bias: false)
    x = b.relu(b.batchNorm(x, "bn1"))
    x = b.basicBlock(x, "layer1.0", planes: 32, stride: 2)
    x = b.conv2d(x, "mix.conv", outChannels: 32, kernelSize: 1, groups: 2, bias: false)
    x = b.channelShuffle(x, groups: 2)
    x = b.conv2d(x, "mix.depthwise", outChannels: 32, kernelSize: 3, padding: 1, groups: 32, bias: false)
    x = b.relu6(b.batchNorm(x, "mix.bn"))
    x = b.linear(b.flatten(b.globalAvgPool(x)), "fc", outFeatures: classes)
    return try b.finishModel(x, model: "tiny-residual", seed: seed, withParameters: withParameters)
}
