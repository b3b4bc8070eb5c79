import PareCore

/// VGG with batch norm, in two forms:
///
/// - `.imageNet`, exactly torchvision's `vgg11_bn` ... `vgg19_bn`: `features.N` as
///   torchvision's `Sequential` numbers it (each 3x3 conv, with bias, takes three indices:
///   conv, `BatchNorm2d`, relu; each 2x2 max pool one), the adaptive 7x7 average pool, then
///   `classifier.0` (linear to 4096), relu, dropout 0.5, `classifier.3` (linear to 4096),
///   relu, dropout 0.5, `classifier.6` (linear to `classes`).
///   Pare has no adaptive pool: when the feature map is 7x7 (inputs 224 to 255) the pool is
///   the identity and is left out, when its sides are multiples of 7 it is the equivalent
///   plain average pool; other inputs are rejected, naming the model.
/// - `.cifar`, the VGG of Network Slimming (Liu et al. 2017, `models/vgg.py` of its code):
///   the same convolutions but without bias and without the last max pool, under
///   `feature.N` (singular, as that code names it), then a 2x2 average pool, flatten, and
///   one linear `classifier` from 512 features. The classifier takes exactly 512 features,
///   so the feature map must be 2x2 or 3x3 (inputs 32 to 47).
///
/// Convolutions per stage: 11 `[1, 1, 2, 2, 2]`, 13 `[2, 2, 2, 2, 2]`, 16 `[2, 2, 3, 3, 3]`,
/// 19 `[2, 2, 4, 4, 4]`, with 64, 128, 256, 512 and 512 channels.
public func vgg(depth: Int, form: ModelForm, input: Shape, classes: Int, seed: UInt64 = 0,
                withParameters: Bool = true) throws -> Graph {
    let model = form == .imageNet ? "vgg\(depth)" : "vgg\(depth)-cifar"
    let convolutionsPerStage: [Int]
    switch depth {
    case 11: convolutionsPerStage = [1, 1, 2, 2, 2]
    case 13: convolutionsPerStage = [2, 2, 2, 2, 2]
    case 16: convolutionsPerStage = [2, 2, 3, 3, 3]
    case 19: convolutionsPerStage = [2, 2, 4, 4, 4]
    default: throw ZooOptionError(model: model, reason: "VGG depth must be 11, 13, 16 or 19")
    }

    var b = GraphBuilder()
    var x = b.input(input)
    let features = form == .imageNet ? "features" : "feature"
    var index = 0  // the next index of the features `Sequential`
    for (stage, count) in convolutionsPerStage.enumerated() {
        for _ in 0..<count {
            x = b.conv2d(x, "\(features).\(index)", outChannels: [64, 128, 256, 512, 512][stage], kernelSize: 3,
                         padding: 1, bias: form == .imageNet)
            x = b.relu(b.batchNorm(x, "\(features).\(index + 1)"))
            index += 3
        }
        if form == .imageNet || stage < 4 {
            x = b.maxPool(x, kernelSize: 2, stride: 2)
            index += 1
        }
    }

    if let error = b.firstError { throw error }
    switch form {
    case .imageNet:
        let (height, width) = (x.shape[1], x.shape[2])
        guard height % 7 == 0, width % 7 == 0 else {
            throw ZooOptionError(model: model, reason: """
                the adaptive 7x7 average pool needs a feature map whose sides are multiples of 7 \
                (inputs 224 to 255 give 7x7), got \(height)x\(width) from input \(input); \
                for 32x32 images use \(model)-cifar
                """)
        }
        if height > 7 || width > 7 { x = b.avgPool(x, Pool2dAttributes(kernelSize: [height / 7, width / 7])) }
        x = b.flatten(x)
        x = b.dropout(b.relu(b.linear(x, "classifier.0", outFeatures: 4096)), probability: 0.5)
        x = b.dropout(b.relu(b.linear(x, "classifier.3", outFeatures: 4096)), probability: 0.5)
        x = b.linear(x, "classifier.6", outFeatures: classes)
    case .cifar:
        x = b.avgPool(x, kernelSize: 2)
        guard b.firstError == nil, x.shape.dimensions == [512, 1, 1] else {
            throw ZooOptionError(model: model, reason: """
                the classifier takes 512 features: the feature map must be 2x2 or 3x3 \
                (inputs 32 to 47), got input \(input)
                """)
        }
        x = b.linear(b.flatten(x), "classifier", outFeatures: classes)
    }
    return try b.finishModel(x, model: model, seed: seed, withParameters: withParameters)
}
