/// How one activation tensor is stored in 8 bits: `real = scale · (q − zeroPoint)`, with `q`
/// an integer of `dtype` (`u8`: 0…255, `i8`: −128…127). Per tensor (one scale for the whole
/// activation), as oneDNN's and onnxruntime's int8 kernels take it.
public struct ActivationQuantization: Codable, Hashable, Sendable {
    public var scale: Float
    public var zeroPoint: Int32
    public var dtype: DType

    public init(scale: Float, zeroPoint: Int32 = 0, dtype: DType) {
        self.scale = scale
        self.zeroPoint = zeroPoint
        self.dtype = dtype
    }

    /// Symmetric quantisation of values in `[-bound, bound]` (`i8`) or `[0, bound]` (`u8`,
    /// for tensors that are never negative): the range maps onto the integers 127 (or 255).
    public static func symmetric(bound: Float, unsigned: Bool) -> ActivationQuantization {
        let levels: Float = unsigned ? 255 : 127
        let scale = bound > 0 && bound.isFinite ? bound / levels : 1 / levels
        return ActivationQuantization(scale: scale, zeroPoint: 0, dtype: unsigned ? .u8 : .i8)
    }

    /// The integer range of `dtype`.
    public var range: ClosedRange<Int32> { dtype == .u8 ? 0...255 : -128...127 }

    /// `clamp(round(x / scale) + zeroPoint)`, rounding half to even as oneDNN and
    /// onnxruntime do.
    @inline(__always)
    public func quantize(_ x: Float) -> Int32 {
        let scaled = (x / scale).rounded(.toNearestOrEven)
        let lower = Float(range.lowerBound - zeroPoint), upper = Float(range.upperBound - zeroPoint)
        guard scaled == scaled else { return zeroPoint }  // NaN
        return Int32(min(max(scaled, lower), upper)) + zeroPoint
    }

    @inline(__always)
    public func dequantize(_ q: Int32) -> Float { scale * Float(q - zeroPoint) }

    /// The real values the integers reach, `[scale · (min − zeroPoint), scale · (max − zeroPoint)]`:
    /// values outside are clamped to its ends.
    public var clippingRange: ClosedRange<Float> {
        scale * Float(range.lowerBound - zeroPoint)...scale * Float(range.upperBound - zeroPoint)
    }

    /// `dequantize(quantize(x))`: what the int8 model computes in place of `x`.
    @inline(__always)
    public func fakeQuantize(_ x: Float) -> Float { dequantize(quantize(x)) }

    /// Checks that the scale is positive and finite, the type 8-bit and the zero point in range.
    public func validate(node: String) throws {
        guard dtype == .u8 || dtype == .i8 else {
            throw GraphError.invalidGraph("node '\(node)': activation quantisation dtype must be u8 or i8, got \(dtype.rawValue)")
        }
        guard scale > 0, scale.isFinite else {
            throw GraphError.invalidGraph("node '\(node)': activation scale must be positive and finite, got \(scale)")
        }
        guard range.contains(zeroPoint) else {
            throw GraphError.invalidGraph("node '\(node)': zero point \(zeroPoint) is outside \(dtype.rawValue)'s range")
        }
    }
}

/// How a convolution's or linear layer's weights are stored: symmetric signed integers per
/// output channel, `W[o] = weight_scale[o] · q[o]`, with `q` in `−(2^(bits−1) − 1) … 2^(bits−1) − 1`
/// (−127…127 at 8 bits). The node's `weight` parameter is then an `i8` tensor and its
/// `weight_scale` an f32 tensor of one scale per output channel.
///
/// `bits` 7 (−63…63) is onnxruntime's `reduce_range`: on CPUs without VNNI the int8
/// convolution kernels multiply u8 by s8 with `vpmaddubsw`, which adds two products into a
/// signed 16-bit lane and saturates when both are large (255·127·2 > 32767); with 7-bit
/// weights that sum is at most 255·63·2 = 32130 and cannot.
public struct WeightQuantization: Codable, Hashable, Sendable {
    public var bits: Int

    public init(bits: Int = 8) { self.bits = bits }

    /// The largest integer magnitude a weight takes (127 at 8 bits, 63 at 7).
    public var maxLevel: Int32 { (1 << Int32(bits - 1)) - 1 }
}

/// A node's quantisation, when it is part of an int8 model. A quantised convolution is still
/// a `.conv2d` node (so summary, MACs, pruning and export see a convolution); this says how
/// its weights and its output are stored, and the executor lowers it to int8 primitives.
public struct NodeQuantization: Codable, Hashable, Sendable {
    /// How the node's output is stored, when it is an 8-bit tensor. `nil`: the output is not
    /// materialised in 8 bits — a convolution whose only consumer is an activation, computed
    /// inside the same int8 primitive, or a node kept in f32.
    public var output: ActivationQuantization?
    /// Present for a convolution or linear layer whose weights are stored in 8 bits.
    public var weights: WeightQuantization?

    public init(output: ActivationQuantization? = nil, weights: WeightQuantization? = nil) {
        self.output = output
        self.weights = weights
    }
}
