import PareCore

/// The four ShuffleNetV2 widths of torchvision, by their names' suffix.
public enum ShuffleNetV2Width: String, CaseIterable, Sendable {
    case x0_5, x1_0, x1_5, x2_0

    /// Output channels of `conv1`, `stage2`, `stage3`, `stage4` and `conv5`
    /// (torchvision's `stages_out_channels`).
    public var stageChannels: [Int] {
        switch self {
        case .x0_5: return [24, 48, 96, 192, 1024]
        case .x1_0: return [24, 116, 232, 464, 1024]
        case .x1_5: return [24, 176, 352, 704, 1024]
        case .x2_0: return [24, 244, 488, 976, 2048]
        }
    }
}

/// ShuffleNetV2 (Ma et al. 2018), exactly torchvision's `shufflenet_v2_x0_5` ...
/// `shufflenet_v2_x2_0`: `conv1` (3x3 conv stride 2 `conv1.0`, bn `conv1.1`, relu), 3x3 max
/// pool stride 2 padding 1, `stage2` ... `stage4` of 4, 8 and 4 units (the first the
/// stride-2 unit with both branches, ``GraphBuilder/shuffleNetV2DownsampleUnit(_:_:outChannels:)``,
/// the rest the channel-split stride-1 unit, ``GraphBuilder/shuffleNetV2Unit(_:_:)``),
/// `conv5` (1x1 conv `conv5.0`, bn `conv5.1`, relu), global average pool (torchvision's
/// `x.mean([2, 3])`), flatten, `fc`.
public func shuffleNetV2(_ width: ShuffleNetV2Width, input: Shape = [3, 224, 224], classes: Int = 1000,
                         seed: UInt64 = 0, withParameters: Bool = true) throws -> Graph {
    let channels = width.stageChannels
    var b = GraphBuilder()
    var x = b.input(input)
    x = b.conv2d(x, "conv1.0", outChannels: channels[0], kernelSize: 3, stride: 2, padding: 1, bias: false)
    x = b.relu(b.batchNorm(x, "conv1.1"))
    x = b.maxPool(x, kernelSize: 3, stride: 2, padding: 1)
    for (stage, repeats) in [4, 8, 4].enumerated() {
        let name = "stage\(stage + 2)"
        x = b.shuffleNetV2DownsampleUnit(x, "\(name).0", outChannels: channels[stage + 1])
        for index in 1..<repeats { x = b.shuffleNetV2Unit(x, "\(name).\(index)") }
    }
    x = b.conv2d(x, "conv5.0", outChannels: channels[4], kernelSize: 1, bias: false)
    x = b.relu(b.batchNorm(x, "conv5.1"))
    x = b.linear(b.flatten(b.globalAvgPool(x)), "fc", outFeatures: classes)
    return try b.finishModel(x, model: "shufflenet_v2_\(width.rawValue)", seed: seed, withParameters: withParameters)
}
