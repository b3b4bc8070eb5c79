import Foundation

/// Writes MNIST-format files (raw IDX) of 28×28 images in 4 classes: class c is a bright
/// square in quadrant c plus seeded noise; returns the `--data` argument for them.
func writeQuadrantMNIST(in directory: URL, train: Int, test: Int) throws -> String {
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    var state: UInt64 = 12345
    func next() -> UInt64 {
        state = state &* 6364136223846793005 &+ 1442695040888963407
        return state >> 33
    }
    func big(_ value: Int) -> [UInt8] { (0..<4).map { UInt8((value >> (24 - 8 * $0)) & 0xFF) } }
    for (prefix, count) in [("train", train), ("t10k", test)] {
        var images: [UInt8] = [0, 0, 8, 3] + big(count) + big(28) + big(28)
        var labels: [UInt8] = [0, 0, 8, 1] + big(count)
        for _ in 0..<count {
            let label = Int(next() % 4)
            for y in 0..<28 {
                for x in 0..<28 {
                    let inside = (y / 14) * 2 + (x / 14) == label
                    images.append(UInt8((inside ? 70 : 40) + Int(next() % 140)))
                }
            }
            labels.append(UInt8(label))
        }
        try Data(images).write(to: directory.appendingPathComponent("\(prefix)-images-idx3-ubyte"))
        try Data(labels).write(to: directory.appendingPathComponent("\(prefix)-labels-idx1-ubyte"))
    }
    return "mnist:" + directory.path
}

