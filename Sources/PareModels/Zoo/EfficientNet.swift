import Foundation
import PareCore

/// EfficientNet (Tan and Le 2019) with torchvision's `efficientnet_b0` table, exactly its
/// model at `widthMultiplier` 1 and `depthMultiplier` 1: `features.0` (3x3 conv stride 2 to
/// 32 channels, bn, SiLU), seven stages `features.1` ... `features.7` of MBConv blocks
/// (``mbConv``; block `j` of stage `s` is `features.s.j`), `features.8` (1x1 conv to four
/// times the last stage's channels, bn, SiLU), global average pool, flatten, dropout 0.2
/// (`classifier.0`), linear `classifier.1`.
///
/// Stage table (expansion, kernel, first stride, channels, blocks): `(1, 3, 1, 16, 1),
/// (6, 3, 2, 24, 2), (6, 5, 2, 40, 2), (6, 3, 2, 80, 3), (6, 5, 1, 112, 3), (6, 5, 2, 192, 4),
/// (6, 3, 1, 320, 1)`, stem 32 channels. As torchvision's `width_mult` and `depth_mult`, the
/// multipliers scale every channel count (``makeDivisible(_:divisor:)``) and every stage's
/// block count (rounded up); b1 ... b7 are other multipliers (and input sizes and dropout).
/// torchvision's stochastic depth is not modelled (see ``GraphBuilder/mbConv``).
public func efficientNet(widthMultiplier: Double = 1, depthMultiplier: Double = 1, input: Shape, classes: Int,
                         seed: UInt64 = 0, withParameters: Bool = true) throws -> Graph {
    let model = "efficientnet_b0"
    guard widthMultiplier.isFinite, widthMultiplier > 0, depthMultiplier.isFinite, depthMultiplier > 0 else {
        throw ZooOptionError(model: model, reason: "width and depth multipliers must be positive, got "
                             + "\(widthMultiplier) and \(depthMultiplier)")
    }
    let stages: [(expandRatio: Int, kernel: Int, stride: Int, channels: Int, blocks: Int)] = [
        (1, 3, 1, 16, 1), (6, 3, 2, 24, 2), (6, 5, 2, 40, 2), (6, 3, 2, 80, 3), (6, 5, 1, 112, 3), (6, 5, 2, 192, 4),
        (6, 3, 1, 320, 1),
    ]
    func adjust(_ channels: Int) -> Int { makeDivisible(Double(channels) * widthMultiplier) }

    var b = GraphBuilder()
    var x = b.input(input)
    x = b.convNormActivation(x, "features.0", outChannels: adjust(32), kernelSize: 3, stride: 2, activation: .silu)
    for (s, stage) in stages.enumerated() {
        let blocks = Int((Double(stage.blocks) * depthMultiplier).rounded(.up))
        for j in 0..<blocks {
            x = b.mbConv(x, "features.\(s + 1).\(j)", expandRatio: stage.expandRatio, kernelSize: stage.kernel,
                         stride: j == 0 ? stage.stride : 1, outChannels: adjust(stage.channels))
        }
    }
    x = b.convNormActivation(x, "features.\(stages.count + 1)", outChannels: 4 * adjust(stages.last!.channels),
                             kernelSize: 1, activation: .silu)
    x = b.dropout(b.flatten(b.globalAvgPool(x)), probability: 0.2)
    x = b.linear(x, "classifier.1", outFeatures: classes)
    return try b.finishModel(x, model: model, seed: seed, withParameters: withParameters)
}
