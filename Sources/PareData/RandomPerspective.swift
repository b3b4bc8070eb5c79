import PareCore

/// With probability `probability`, moves each corner of the image inwards by a random
/// amount of up to `distortionScale` of half the image size and warps the image to match,
/// bilinear, zero outside (torchvision's `RandomPerspective(distortion_scale, p,
/// interpolation=BILINEAR)`: the same corner distribution and the same
/// pixel-centre convention).
public struct RandomPerspective: Transform, Equatable {
    public var distortionScale: Float
    public var probability: Float

    public init(distortionScale: Float = 0.5, probability: Float = 0.5) {
        precondition(distortionScale >= 0 && distortionScale <= 1, "RandomPerspective distortion scale must be in [0, 1]")
        self.distortionScale = distortionScale
        self.probability = probability
    }

    /// A point in pixel-index coordinates (x right, y down).
    public typealias Point = (x: Int, y: Int)

    /// The image's corners (top-left, top-right, bottom-right, bottom-left) and where they
    /// move to.
    public func corners(height: Int, width: Int, generator: inout SeededGenerator)
        -> (start: [Point], end: [Point]) {
        let dx = Int(distortionScale * Float(width / 2)), dy = Int(distortionScale * Float(height / 2))
        let topLeft = (generator.integer(from: 0, below: dx + 1), generator.integer(from: 0, below: dy + 1))
        let topRight = (generator.integer(from: width - dx - 1, below: width), generator.integer(from: 0, below: dy + 1))
        let bottomRight = (generator.integer(from: width - dx - 1, below: width),
                           generator.integer(from: height - dy - 1, below: height))
        let bottomLeft = (generator.integer(from: 0, below: dx + 1), generator.integer(from: height - dy - 1, below: height))
        let start: [Point] = [(0, 0), (width - 1, 0), (width - 1, height - 1), (0, height - 1)]
        let end: [Point] = [topLeft, topRight, bottomRight, bottomLeft].map { (x: $0.0, y: $0.1) }
        return (start, end)
    }

    public func callAsFunction(_ image: Tensor, generator: inout SeededGenerator) -> Tensor {
        guard generator.nextUniform() < probability else { return image }
        let (_, height, width) = ImageResampling.dimensions(image)
        let (start, end) = corners(height: height, width: width, generator: &generator)
        return Self.warp(image, start: start, end: end)
    }

    /// The image warped so that the points `start` move to `end` (four each).
    public static func warp(_ image: Tensor, start: [Point], end: [Point]) -> Tensor {
        let (channels, height, width) = ImageResampling.dimensions(image)
        // Coefficients of the map from output (end) points to input (start) points:
        // (x, y) -> ((a x + b y + c) / (g x + h y + 1), (d x + e y + f) / (g x + h y + 1)).
        var matrix = [[Double]]()
        var rhs = [Double]()
        for (p, q) in zip(end, start) {
            let x = Double(p.x), y = Double(p.y), u = Double(q.x), v = Double(q.y)
            matrix.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
            rhs.append(u)
            matrix.append([0, 0, 0, x, y, 1, -v * x, -v * y])
            rhs.append(v)
        }
        guard let k = solve(matrix, rhs) else { return image }
        let source = image.floats.baseAddress!
        let result = Tensor(zeros: image.shape)
        let destination = result.floats
        for y in 0..<height {
            for x in 0..<width {
                // Pixel centres are at +0.5 in the continuous coordinates the map works in.
                let px = Double(x) + 0.5, py = Double(y) + 0.5
                let denominator = k[6] * px + k[7] * py + 1
                let sourceX = Float((k[0] * px + k[1] * py + k[2]) / denominator - 0.5)
                let sourceY = Float((k[3] * px + k[4] * py + k[5]) / denominator - 0.5)
                for c in 0..<channels {
                    destination[(c * height + y) * width + x] = ImageResampling.sampleBilinear(
                        source + c * height * width, height: height, width: width, x: sourceX, y: sourceY)
                }
            }
        }
        return result
    }

    /// Gaussian elimination with partial pivoting; nil for a singular system.
    private static func solve(_ matrix: [[Double]], _ rhs: [Double]) -> [Double]? {
        var a = matrix, b = rhs
        let n = b.count
        for column in 0..<n {
            let pivot = (column..<n).max { abs(a[$0][column]) < abs(a[$1][column]) }!
            guard abs(a[pivot][column]) > 1e-12 else { return nil }
            a.swapAt(column, pivot)
            b.swapAt(column, pivot)
            for row in (column + 1)..<n {
                let factor = a[row][column] / a[column][column]
                for j in column..<n { a[row][j] -= factor * a[column][j] }
                b[row] -= factor * b[column]
            }
        }
        var x = [Double](repeating: 0, count: n)
        for row in stride(from: n - 1, through: 0, by: -1) {
            var sum = b[row]
            for j in (row + 1)..<n { sum -= a[row][j] * x[j] }
            x[row] = sum / a[row][row]
        }
        return x
    }
}
