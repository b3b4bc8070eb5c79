import PareCore

/// Random brightness, contrast, saturation and hue changes in a random order, with
/// torchvision's `ColorJitter` definitions on 0–1 images:
///
/// - brightness `b`: `clamp(b * x)`
/// - contrast `c`: `clamp(c * x + (1 - c) * mean(grey(x)))`, the mean over the whole image
/// - saturation `s`: `clamp(s * x + (1 - s) * grey(x))` per pixel
/// - hue `h`: rotate the HSV hue by `h` turns (torchvision's `rgb2hsv`/`hsv2rgb`)
///
/// with `grey = 0.2989 R + 0.587 G + 0.114 B`, factors uniform in `[max(0, 1 - v), 1 + v]`
/// (hue in `[-v, v]`), and a factor of 0 meaning "off". Saturation and hue leave
/// one-channel images unchanged, as torchvision does.
public struct ColorJitter: Transform, Equatable {
    public var brightness: Float
    public var contrast: Float
    public var saturation: Float
    public var hue: Float

    public init(brightness: Float = 0, contrast: Float = 0, saturation: Float = 0, hue: Float = 0) {
        precondition(brightness >= 0 && contrast >= 0 && saturation >= 0, "ColorJitter strengths must be >= 0")
        precondition(hue >= 0 && hue <= 0.5, "ColorJitter hue must be in [0, 0.5]")
        self.brightness = brightness
        self.contrast = contrast
        self.saturation = saturation
        self.hue = hue
    }

    /// One adjustment and its factor.
    public enum Adjustment: Equatable, Sendable {
        case brightness(Float), contrast(Float), saturation(Float), hue(Float)
    }

    /// The adjustments to make, in the order to make them.
    public func parameters(generator: inout SeededGenerator) -> [Adjustment] {
        let order = StreamSeed.shuffled([0, 1, 2, 3], generator: &generator)
        func factor(_ strength: Float) -> Float? {
            strength > 0 ? generator.uniform(max(0, 1 - strength), 1 + strength) : nil
        }
        let b = factor(brightness), c = factor(contrast), s = factor(saturation)
        let h = hue > 0 ? generator.uniform(-hue, hue) : nil
        return order.compactMap { index -> Adjustment? in
            switch index {
            case 0: return b.map(Adjustment.brightness)
            case 1: return c.map(Adjustment.contrast)
            case 2: return s.map(Adjustment.saturation)
            default: return h.map(Adjustment.hue)
            }
        }
    }

    public func callAsFunction(_ image: Tensor, generator: inout SeededGenerator) -> Tensor {
        Self.apply(parameters(generator: &generator), to: image)
    }

    public static func apply(_ adjustments: [Adjustment], to image: Tensor) -> Tensor {
        adjustments.reduce(image) { image, adjustment in
            switch adjustment {
            case let .brightness(factor): return adjustBrightness(image, factor: factor)
            case let .contrast(factor): return adjustContrast(image, factor: factor)
            case let .saturation(factor): return adjustSaturation(image, factor: factor)
            case let .hue(factor): return adjustHue(image, factor: factor)
            }
        }
    }

    public static func adjustBrightness(_ image: Tensor, factor: Float) -> Tensor {
        map(image) { value, _ in factor * value }
    }

    public static func adjustContrast(_ image: Tensor, factor: Float) -> Tensor {
        let (channels, height, width) = ImageResampling.dimensions(image)
        let plane = height * width
        let source = image.floats
        var total: Double = 0
        if channels == 3 {
            for pixel in 0..<plane { total += Double(grey(source, pixel, plane)) }
        } else {
            for value in source { total += Double(value) }
        }
        let mean = Float(total / Double(channels == 3 ? plane : source.count))
        return map(image) { value, _ in factor * value + (1 - factor) * mean }
    }

    public static func adjustSaturation(_ image: Tensor, factor: Float) -> Tensor {
        let (channels, height, width) = ImageResampling.dimensions(image)
        guard channels == 3 else { return image }
        let plane = height * width
        let source = image.floats
        return map(image) { value, index in factor * value + (1 - factor) * grey(source, index % plane, plane) }
    }

    /// Shifts the hue by `factor` turns (in [-0.5, 0.5]).
    public static func adjustHue(_ image: Tensor, factor: Float) -> Tensor {
        let (channels, height, width) = ImageResampling.dimensions(image)
        guard channels == 3 else { return image }
        let plane = height * width
        let source = image.floats
        let result = Tensor(zeros: image.shape)
        let destination = result.floats
        for pixel in 0..<plane {
            let r = source[pixel], g = source[plane + pixel], b = source[2 * plane + pixel]
            // rgb -> hsv
            let maxc = max(r, g, b), minc = min(r, g, b)
            let equal = maxc == minc
            let chroma = maxc - minc
            let s = chroma / (equal ? 1 : maxc)
            let divisor = equal ? 1 : chroma
            let rc = (maxc - r) / divisor, gc = (maxc - g) / divisor, bc = (maxc - b) / divisor
            var h: Float
            if maxc == r { h = bc - gc } else if maxc == g { h = 2 + rc - bc } else { h = 4 + gc - rc }
            h = (h / 6 + 1).truncatingRemainder(dividingBy: 1)
            // shift
            h = h + factor
            h -= h.rounded(.down)
            // hsv -> rgb
            let v = maxc
            let sector = (h * 6).rounded(.down)
            let f = h * 6 - sector
            let p = min(max(v * (1 - s), 0), 1)
            let q = min(max(v * (1 - s * f), 0), 1)
            let t = min(max(v * (1 - s * (1 - f)), 0), 1)
            let rgb: (Float, Float, Float)
            switch ((Int(sector) % 6) + 6) % 6 {
            case 0: rgb = (v, t, p)
            case 1: rgb = (q, v, p)
            case 2: rgb = (p, v, t)
            case 3: rgb = (p, q, v)
            case 4: rgb = (t, p, v)
            default: rgb = (v, p, q)
            }
            destination[pixel] = rgb.0
            destination[plane + pixel] = rgb.1
            destination[2 * plane + pixel] = rgb.2
        }
        return result
    }

    @inline(__always)
    private static func grey(_ source: UnsafeMutableBufferPointer<Float>, _ pixel: Int, _ plane: Int) -> Float {
        0.2989 * source[pixel] + 0.587 * source[plane + pixel] + 0.114 * source[2 * plane + pixel]
    }

    /// `clamp(transform(value, index), 0, 1)` for every element, into a new tensor.
    private static func map(_ image: Tensor, _ transform: (Float, Int) -> Float) -> Tensor {
        let source = image.floats
        let result = Tensor(zeros: image.shape)
        let destination = result.floats
        for i in 0..<source.count { destination[i] = min(max(transform(source[i], i), 0), 1) }
        return result
    }
}
