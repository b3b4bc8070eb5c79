import Foundation
import PareCore

/// Rotates the image about its centre by an angle uniform in `[-degrees, degrees]`,
/// counter-clockwise for positive angles, with bilinear interpolation; the corners that
/// come from outside the image are zero (torchvision's `RandomRotation(degrees,
/// interpolation=BILINEAR)` with the default fill 0, except that torchvision multiplies
/// the border pixels by its interpolated validity mask a second time, darkening the
/// one-pixel seam slightly more than plain zero padding does).
public struct RandomRotation: Transform, Equatable {
    public var degrees: Float

    public init(degrees: Float) {
        precondition(degrees >= 0, "RandomRotation needs degrees >= 0")
        self.degrees = degrees
    }

    public func angle(generator: inout SeededGenerator) -> Float {
        generator.uniform(-degrees, degrees)
    }

    public func callAsFunction(_ image: Tensor, generator: inout SeededGenerator) -> Tensor {
        Self.rotate(image, degrees: angle(generator: &generator))
    }

    /// The image rotated by `degrees` counter-clockwise about its centre.
    public static func rotate(_ image: Tensor, degrees: Float) -> Tensor {
        let (channels, height, width) = ImageResampling.dimensions(image)
        let radians = Double(degrees) * Double.pi / 180
        let cosine = Float(cos(radians)), sine = Float(sin(radians))
        let centerX = Float(width - 1) / 2, centerY = Float(height - 1) / 2
        let source = image.floats.baseAddress!
        let result = Tensor(zeros: image.shape)
        let destination = result.floats
        // Inverse map: output (x, y) reads the input at the point rotated by -angle on screen.
        for y in 0..<height {
            for x in 0..<width {
                let dx = Float(x) - centerX, dy = Float(y) - centerY
                let sourceX = centerX + cosine * dx - sine * dy
                let sourceY = centerY + sine * dx + cosine * dy
                for c in 0..<channels {
                    destination[(c * height + y) * width + x] = ImageResampling.sampleBilinear(
                        source + c * height * width, height: height, width: width, x: sourceX, y: sourceY)
                }
            }
        }
        return result
    }
}
