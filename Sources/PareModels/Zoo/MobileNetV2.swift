import PareCore

/// MobileNetV2 (Sandler et al. 2018), in two forms:
///
/// - `.imageNet`, exactly torchvision's `mobilenet_v2`: `features.0` (3x3 conv stride 2 to
///   32 channels `features.0.0`, bn `features.0.1`, relu6), the inverted residuals
///   `features.1` ... `features.17` of the table below, `features.18` (1x1 conv to 1280
///   `features.18.0`, bn `features.18.1`, relu6), global average pool, flatten, dropout 0.2
///   (`classifier.0`), linear `classifier.1`.
/// - `.cifar`, the usual CIFAR adaptation: stride 1 instead of 2 in `features.0` and in the
///   first block of the 24-channel stage (`features.2`), so a 32x32 image is downsampled 8x
///   (to 4x4) instead of 32x; nothing else changes, names and parameter counts included.
///
/// Inverted residual setting (expansion t, channels c, repeats n, first stride s):
/// `(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
/// (6, 160, 3, 2), (6, 320, 1, 1)`. `widthMultiplier` scales every channel count as
/// torchvision does (``makeDivisible(_:divisor:)`` to a multiple of 8), the last conv's 1280
/// only when above 1.
public func mobileNetV2(form: ModelForm, widthMultiplier: Double = 1, input: Shape, classes: Int,
                        seed: UInt64 = 0, withParameters: Bool = true) throws -> Graph {
    let model = form == .imageNet ? "mobilenet_v2" : "mobilenet_v2-cifar"
    guard widthMultiplier.isFinite, widthMultiplier > 0 else {
        throw ZooOptionError(model: model, reason: "width multiplier must be positive, got \(widthMultiplier)")
    }
    let setting: [(expandRatio: Int, channels: Int, repeats: Int, stride: Int)] = [
        (1, 16, 1, 1), (6, 24, 2, form == .imageNet ? 2 : 1), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
        (6, 160, 3, 2), (6, 320, 1, 1),
    ]
    let lastChannels = makeDivisible(1280 * max(1, widthMultiplier))

    var b = GraphBuilder()
    var x = b.input(input)
    x = b.conv2d(x, "features.0.0", outChannels: makeDivisible(32 * widthMultiplier), kernelSize: 3,
                 stride: form == .imageNet ? 2 : 1, padding: 1, bias: false)
    x = b.relu6(b.batchNorm(x, "features.0.1"))
    var index = 1
    for row in setting {
        let channels = makeDivisible(Double(row.channels) * widthMultiplier)
        for position in 0..<row.repeats {
            x = b.invertedResidual(x, "features.\(index)", outChannels: channels,
                                   stride: position == 0 ? row.stride : 1, expandRatio: row.expandRatio)
            index += 1
        }
    }
    x = b.conv2d(x, "features.\(index).0", outChannels: lastChannels, kernelSize: 1, bias: false)
    x = b.relu6(b.batchNorm(x, "features.\(index).1"))
    x = b.dropout(b.flatten(b.globalAvgPool(x)), probability: 0.2)
    x = b.linear(x, "classifier.1", outFeatures: classes)
    return try b.finishModel(x, model: model, seed: seed, withParameters: withParameters)
}

/// torchvision's `_make_divisible`: `value` rounded to the nearest multiple of `divisor`
/// (at least `divisor`), one step up if rounding lost more than 10%.
public func makeDivisible(_ value: Double, divisor: Int = 8) -> Int {
    var rounded = max(divisor, Int(value + Double(divisor) / 2) / divisor * divisor)
    if Double(rounded) < 0.9 * value { rounded += divisor }
    return rounded
}
