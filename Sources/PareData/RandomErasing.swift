import Foundation
import PareCore

/// With probability `probability`, sets a random rectangle of every channel to `value`
/// (torchvision's `RandomErasing(p, scale, ratio, value)`, the same rectangle
/// distribution: area a fraction in `scale` of the image, aspect ratio log-uniform in
/// `ratio`, up to 10 tries to fit, none erased if none fits). Usually applied after
/// normalisation, where 0 is the mean colour.
public struct RandomErasing: Transform, Equatable {
    public var probability: Float
    public var scale: ClosedRange<Float>
    public var ratio: ClosedRange<Float>
    public var value: Float

    public init(probability: Float = 0.5, scale: ClosedRange<Float> = 0.02...0.33,
                ratio: ClosedRange<Float> = 0.3...3.3, value: Float = 0) {
        precondition(scale.lowerBound >= 0 && scale.upperBound <= 1 && ratio.lowerBound > 0,
                     "RandomErasing needs a scale within [0, 1] and a positive ratio")
        self.probability = probability
        self.scale = scale
        self.ratio = ratio
        self.value = value
    }

    /// The rectangle to erase (top, left, height, width), or nil when no try fitted.
    public func region(height: Int, width: Int, generator: inout SeededGenerator)
        -> (top: Int, left: Int, height: Int, width: Int)? {
        let area = Float(height * width)
        let logRatio = (log(ratio.lowerBound), log(ratio.upperBound))
        for _ in 0..<10 {
            let eraseArea = area * generator.uniform(scale.lowerBound, scale.upperBound)
            let aspect = exp(generator.uniform(logRatio.0, logRatio.1))
            let h = Int((eraseArea * aspect).squareRoot().rounded(.toNearestOrEven))
            let w = Int((eraseArea / aspect).squareRoot().rounded(.toNearestOrEven))
            guard h < height && w < width else { continue }
            let top = generator.integer(below: height - h + 1)
            let left = generator.integer(below: width - w + 1)
            return (top, left, h, w)
        }
        return nil
    }

    public func callAsFunction(_ image: Tensor, generator: inout SeededGenerator) -> Tensor {
        guard generator.nextUniform() < probability else { return image }
        let (_, height, width) = ImageResampling.dimensions(image)
        guard let region = region(height: height, width: width, generator: &generator) else { return image }
        return Self.erase(image, top: region.top, left: region.left, height: region.height, width: region.width, value: value)
    }

    /// A copy of the image with the rectangle set to `value` in every channel.
    public static func erase(_ image: Tensor, top: Int, left: Int, height: Int, width: Int, value: Float) -> Tensor {
        let (channels, imageHeight, imageWidth) = ImageResampling.dimensions(image)
        let result = image.copy()
        let destination = result.floats
        for c in 0..<channels {
            for y in top..<(top + height) {
                for x in left..<(left + width) { destination[(c * imageHeight + y) * imageWidth + x] = value }
            }
        }
        return result
    }
}
