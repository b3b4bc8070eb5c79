import PareCore

/// A small CNN for 28x28 grey images (Fashion-MNIST), 225,034 parameters:
/// conv 1->32 3x3 + relu + maxpool 2 (`conv1`), conv 32->64 3x3 + relu + maxpool 2 (`conv2`),
/// flatten, linear 1600->128 + relu (`fc1`), linear 128->`classes` (`fc2`).
///
/// The convolutions are unpadded (28 -> 26 -> 13 -> 11 -> 5), so `fc1` sees 64*5*5 features;
/// another `input` changes `conv1`'s input channels and `fc1`'s input features.
/// `widthMultiplier` scales the 32, 64 and 128 (rounded, at least 1): 0.25 gives the
/// 14,410-parameter conv8-conv16-fc32 student of the distillation benchmark.
public func smallCNN(input: Shape = [1, 28, 28], classes: Int = 10, widthMultiplier: Double = 1, seed: UInt64 = 0,
                     withParameters: Bool = true) throws -> Graph {
    func width(_ channels: Int) -> Int { max(1, Int((Double(channels) * widthMultiplier).rounded())) }
    var b = GraphBuilder()
    var x = b.input(input)
    x = b.maxPool(b.relu(b.conv2d(x, "conv1", outChannels: width(32), kernelSize: 3)), kernelSize: 2)
    x = b.maxPool(b.relu(b.conv2d(x, "conv2", outChannels: width(64), kernelSize: 3)), kernelSize: 2)
    x = b.relu(b.linear(b.flatten(x), "fc1", outFeatures: width(128)))
    x = b.linear(x, "fc2", outFeatures: classes)
    return try b.finishModel(x, model: "smallcnn", seed: seed, withParameters: withParameters)
}
