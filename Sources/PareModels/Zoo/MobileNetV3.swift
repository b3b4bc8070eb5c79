import PareCore

/// MobileNetV3's two sizes (Howard et al. 2019).
public enum MobileNetV3Size: String, Sendable, CaseIterable {
    case small, large
}

/// MobileNetV3, exactly torchvision's `mobilenet_v3_small` / `mobilenet_v3_large` (without
/// `reduced_tail` or `dilated`): `features.0` (3x3 conv stride 2 to 16 channels, bn, hard
/// swish), the inverted residuals `features.1` ... of the paper's table (``mobileNetV3Block``:
/// squeeze-and-excitation with a hard-sigmoid gate in some), a 1x1 conv to six times the last
/// block's channels with bn and hard swish, global average pool, flatten, `classifier.0`
/// (linear to 1024 / 1280), hard swish, dropout 0.2, `classifier.3`. Batch norms have eps
/// 0.001 and momentum 0.01. `widthMultiplier` scales every channel count as torchvision's
/// `width_mult` does (``makeDivisible(_:divisor:)``), the classifier's hidden width included.
public func mobileNetV3(_ size: MobileNetV3Size, widthMultiplier: Double = 1, input: Shape, classes: Int,
                        seed: UInt64 = 0, withParameters: Bool = true) throws -> Graph {
    let model = "mobilenet_v3_\(size.rawValue)"
    guard widthMultiplier.isFinite, widthMultiplier > 0 else {
        throw ZooOptionError(model: model, reason: "width multiplier must be positive, got \(widthMultiplier)")
    }
    // (input, kernel, expanded, out, squeeze-and-excitation, hard swish (else ReLU), stride)
    typealias Row = (input: Int, kernel: Int, expanded: Int, out: Int, se: Bool, hardSwish: Bool, stride: Int)
    let setting: [Row]
    let hidden: Int
    switch size {
    case .large:
        setting = [
            (16, 3, 16, 16, false, false, 1), (16, 3, 64, 24, false, false, 2), (24, 3, 72, 24, false, false, 1),
            (24, 5, 72, 40, true, false, 2), (40, 5, 120, 40, true, false, 1), (40, 5, 120, 40, true, false, 1),
            (40, 3, 240, 80, false, true, 2), (80, 3, 200, 80, false, true, 1), (80, 3, 184, 80, false, true, 1),
            (80, 3, 184, 80, false, true, 1), (80, 3, 480, 112, true, true, 1), (112, 3, 672, 112, true, true, 1),
            (112, 5, 672, 160, true, true, 2), (160, 5, 960, 160, true, true, 1), (160, 5, 960, 160, true, true, 1),
        ]
        hidden = 1280
    case .small:
        setting = [
            (16, 3, 16, 16, true, false, 2), (16, 3, 72, 24, false, false, 2), (24, 3, 88, 24, false, false, 1),
            (24, 5, 96, 40, true, true, 2), (40, 5, 240, 40, true, true, 1), (40, 5, 240, 40, true, true, 1),
            (40, 5, 120, 48, true, true, 1), (48, 5, 144, 48, true, true, 1), (48, 5, 288, 96, true, true, 2),
            (96, 5, 576, 96, true, true, 1), (96, 5, 576, 96, true, true, 1),
        ]
        hidden = 1024
    }
    func adjust(_ channels: Int) -> Int { makeDivisible(Double(channels) * widthMultiplier) }

    var b = GraphBuilder()
    var x = b.input(input)
    x = b.convNormActivation(x, "features.0", outChannels: adjust(setting[0].input), kernelSize: 3, stride: 2, eps: 0.001,
                             momentum: 0.01, activation: .hardSwish)
    for (k, row) in setting.enumerated() {
        x = b.mobileNetV3Block(x, "features.\(k + 1)", kernelSize: row.kernel, expandedChannels: adjust(row.expanded),
                               outChannels: adjust(row.out), squeezeExcite: row.se, hardSwish: row.hardSwish,
                               stride: row.stride)
    }
    x = b.convNormActivation(x, "features.\(setting.count + 1)", outChannels: 6 * adjust(setting.last!.out), kernelSize: 1,
                             eps: 0.001, momentum: 0.01, activation: .hardSwish)
    x = b.flatten(b.globalAvgPool(x))
    x = b.hardSwish(b.linear(x, "classifier.0", outFeatures: adjust(hidden)))
    x = b.linear(b.dropout(x, probability: 0.2), "classifier.3", outFeatures: classes)
    return try b.finishModel(x, model: model, seed: seed, withParameters: withParameters)
}
