import PareCore

/// Resampling of `[channels, height, width]` f32 images, shared by the image-folder reader
/// and the geometric transforms.
enum ImageResampling {
    /// Resizes with a triangle (bilinear) filter whose support widens by the shrink factor
    /// when downsampling: PIL's `Image.resize(BILINEAR)` and torchvision's `Resize` with
    /// `antialias=True`. When enlarging this is plain bilinear interpolation with pixel
    /// centres at `i + 0.5` (`align_corners=False`).
    static func resize(_ image: Tensor, height outHeight: Int, width outWidth: Int) -> Tensor {
        let (channels, height, width) = dimensions(image)
        let source = image.floats
        let columns = FilterTaps(inputSize: width, outputSize: outWidth)
        let rows = FilterTaps(inputSize: height, outputSize: outHeight)
        // Horizontal pass: [C, H, W] -> [C, H, outW].
        var horizontal = [Float](repeating: 0, count: channels * height * outWidth)
        for c in 0..<channels {
            for y in 0..<height {
                let input = (c * height + y) * width
                let output = (c * height + y) * outWidth
                for x in 0..<outWidth {
                    var sum: Float = 0
                    let start = columns.starts[x]
                    for k in 0..<columns.counts[x] {
                        sum += columns.weights[x * columns.stride + k] * source[input + start + k]
                    }
                    horizontal[output + x] = sum
                }
            }
        }
        // Vertical pass: [C, H, outW] -> [C, outH, outW].
        let result = Tensor(zeros: [channels, outHeight, outWidth])
        let destination = result.floats
        for c in 0..<channels {
            for y in 0..<outHeight {
                let output = (c * outHeight + y) * outWidth
                let start = rows.starts[y]
                for k in 0..<rows.counts[y] {
                    let weight = rows.weights[y * rows.stride + k]
                    let input = (c * height + start + k) * outWidth
                    for x in 0..<outWidth { destination[output + x] += weight * horizontal[input + x] }
                }
            }
        }
        return result
    }

    /// The `height` x `width` window at the centre, its top-left corner rounded as
    /// torchvision's `CenterCrop` does (`round((H - h) / 2)`, half to even). Where the window
    /// extends beyond the image it reads zeros.
    static func centerCrop(_ image: Tensor, height: Int, width: Int) -> Tensor {
        let (_, inHeight, inWidth) = dimensions(image)
        let top = Int((Double(inHeight - height) / 2).rounded(.toNearestOrEven))
        let left = Int((Double(inWidth - width) / 2).rounded(.toNearestOrEven))
        return crop(image, top: top, left: left, height: height, width: width)
    }

    /// The window with top-left corner (`top`, `left`), which may lie partly or wholly
    /// outside the image; outside pixels are zero.
    static func crop(_ image: Tensor, top: Int, left: Int, height: Int, width: Int) -> Tensor {
        let (channels, inHeight, inWidth) = dimensions(image)
        let source = image.floats
        let result = Tensor(zeros: [channels, height, width])
        let destination = result.floats
        let xFrom = max(0, -left), xTo = min(width, inWidth - left)
        guard xFrom < xTo else { return result }
        for c in 0..<channels {
            for y in max(0, -top)..<max(max(0, -top), min(height, inHeight - top)) {
                let input = (c * inHeight + y + top) * inWidth + left
                let output = (c * height + y) * width
                for x in xFrom..<xTo { destination[output + x] = source[input + x] }
            }
        }
        return result
    }

    /// Bilinear interpolation of one channel plane at (`x`, `y`) in pixel-index coordinates
    /// (pixel centres at integers); neighbours outside the image count as zero, like
    /// `grid_sample(padding_mode="zeros")`.
    @inline(__always)
    static func sampleBilinear(_ plane: UnsafeMutablePointer<Float>, height: Int, width: Int, x: Float, y: Float) -> Float {
        let x0f = x.rounded(.down), y0f = y.rounded(.down)
        guard x0f >= -1, y0f >= -1, x0f < Float(width), y0f < Float(height) else { return 0 }
        let x0 = Int(x0f), y0 = Int(y0f)
        let fx = x - x0f, fy = y - y0f
        func at(_ yy: Int, _ xx: Int) -> Float {
            yy >= 0 && yy < height && xx >= 0 && xx < width ? plane[yy * width + xx] : 0
        }
        let top = at(y0, x0) * (1 - fx) + at(y0, x0 + 1) * fx
        let bottom = at(y0 + 1, x0) * (1 - fx) + at(y0 + 1, x0 + 1) * fx
        return top * (1 - fy) + bottom * fy
    }

    static func dimensions(_ image: Tensor) -> (channels: Int, height: Int, width: Int) {
        precondition(image.shape.rank == 3 && image.dtype == .f32, "expected an f32 [C, H, W] image, got \(image.dtype.rawValue) \(image.shape)")
        return (image.shape[0], image.shape[1], image.shape[2])
    }
}

/// For each output position of a 1-D resize, the input positions read and their weights
/// (PIL's `precompute_coeffs` with the bilinear filter).
private struct FilterTaps {
    var starts: [Int] = []
    var counts: [Int] = []
    /// `outputSize * stride` weights; row `i` holds `counts[i]` used entries.
    var weights: [Float] = []
    var stride = 0

    init(inputSize: Int, outputSize: Int) {
        let scale = Double(inputSize) / Double(outputSize)
        let filterScale = max(scale, 1)
        let support = filterScale  // the triangle filter's support is 1, widened when shrinking
        stride = Int(support.rounded(.up)) * 2 + 1
        weights = [Float](repeating: 0, count: outputSize * stride)
        for i in 0..<outputSize {
            let center = (Double(i) + 0.5) * scale
            let first = max(0, Int((center - support + 0.5).rounded(.down)))
            let end = min(inputSize, Int((center + support + 0.5).rounded(.down)))
            var taps: [Double] = []
            for x in first..<max(first, end) {
                taps.append(max(0, 1 - abs((Double(x) - center + 0.5) / filterScale)))
            }
            let total = taps.reduce(0, +)
            starts.append(first)
            counts.append(taps.count)
            for (k, tap) in taps.enumerated() { weights[i * stride + k] = Float(total > 0 ? tap / total : 0) }
        }
    }
}
