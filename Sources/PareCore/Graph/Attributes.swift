/// Zero padding around a 2-D window: `top`/`left` before the first row/column,
/// `bottom`/`right` after the last. PyTorch's `padding=p` is `Padding2d(p)`.
public struct Padding2d: Codable, Hashable, Sendable {
    public var top: Int, left: Int, bottom: Int, right: Int

    public init(top: Int, left: Int, bottom: Int, right: Int) {
        self.top = top; self.left = left; self.bottom = bottom; self.right = right
    }
    /// The same padding on every side.
    public init(_ p: Int) { self.init(top: p, left: p, bottom: p, right: p) }
    /// `h` rows above and below, `w` columns left and right.
    public init(_ h: Int, _ w: Int) { self.init(top: h, left: w, bottom: h, right: w) }

    public var isSymmetric: Bool { top == bottom && left == right }
}

/// A 2-D convolution. Grouped (`groups > 1`), depthwise (`groups == inChannels`) and dilated
/// convolutions are all this one op. Weight shape: `[outChannels, inChannels/groups, kh, kw]`.
public struct Conv2dAttributes: Codable, Hashable, Sendable {
    public var outChannels: Int
    public var kernelSize: [Int]  // [kh, kw]
    public var stride: [Int]      // [sh, sw]
    public var padding: Padding2d
    public var dilation: [Int]    // [dh, dw], 1 = dense
    public var groups: Int
    public var bias: Bool

    public init(outChannels: Int, kernelSize: [Int], stride: [Int] = [1, 1], padding: Padding2d = Padding2d(0),
                dilation: [Int] = [1, 1], groups: Int = 1, bias: Bool = false) {
        self.outChannels = outChannels; self.kernelSize = kernelSize; self.stride = stride
        self.padding = padding; self.dilation = dilation; self.groups = groups; self.bias = bias
    }
}

/// Batch normalisation over the channel axis (PyTorch `BatchNorm2d`/`BatchNorm1d`).
/// Training mode normalises with batch statistics and updates the running ones:
/// `running = (1 - momentum) * running + momentum * batch` (variance unbiased).
public struct BatchNormAttributes: Codable, Hashable, Sendable {
    public var eps: Double
    public var momentum: Double
    public init(eps: Double = 1e-5, momentum: Double = 0.1) { self.eps = eps; self.momentum = momentum }
}

/// Max or average pooling window.
public struct Pool2dAttributes: Codable, Hashable, Sendable {
    public var kernelSize: [Int]
    public var stride: [Int]
    public var padding: Padding2d
    /// Round the output size up (PyTorch `ceil_mode`).
    public var ceilMode: Bool
    /// Average pooling: count padded zeros in the divisor (PyTorch `count_include_pad`, default true).
    public var countIncludePad: Bool

    public init(kernelSize: [Int], stride: [Int]? = nil, padding: Padding2d = Padding2d(0),
                ceilMode: Bool = false, countIncludePad: Bool = true) {
        self.kernelSize = kernelSize; self.stride = stride ?? kernelSize; self.padding = padding
        self.ceilMode = ceilMode; self.countIncludePad = countIncludePad
    }
}

/// A fully connected layer, `y = x W^T + b` with `W` of shape `[outFeatures, inFeatures]`.
public struct LinearAttributes: Codable, Hashable, Sendable {
    public var outFeatures: Int
    public var bias: Bool
    public init(outFeatures: Int, bias: Bool = true) { self.outFeatures = outFeatures; self.bias = bias }
}

/// Local response normalisation across channels, as PyTorch's `nn.LocalResponseNorm(size,
/// alpha, beta, k)`: `y_c = x_c / (k + alpha / size · Σ x_{c'}²)^beta` over the channels
/// `c'` of a window of `size` around `c` (clipped at the edges). Pare takes odd sizes only:
/// for an even size PyTorch's window has one more channel before `c`, ONNX's one more after.
public struct LRNAttributes: Codable, Hashable, Sendable {
    public var size: Int
    public var alpha: Double
    public var beta: Double
    public var k: Double
    public init(size: Int, alpha: Double = 1e-4, beta: Double = 0.75, k: Double = 1) {
        self.size = size
        self.alpha = alpha
        self.beta = beta
        self.k = k
    }
}

/// How ``PadAttributes`` fills the border.
public enum PaddingMode: String, Codable, Hashable, Sendable, CaseIterable {
    /// Mirrored without repeating the edge: `[a b c]` padded by 2 on the left is `c b a b c`
    /// (PyTorch `ReflectionPad2d`, ONNX `Pad` mode `reflect`).
    case reflect
    /// The edge value repeated: `a a a b c` (PyTorch `ReplicationPad2d`, ONNX mode `edge`).
    case replicate
}

/// Spatial padding of a `[C, H, W]` input by `padding` in `mode`. (Zero padding is part of
/// the convolution or pooling window that follows it.)
public struct PadAttributes: Codable, Hashable, Sendable {
    public var padding: Padding2d
    public var mode: PaddingMode
    public init(padding: Padding2d, mode: PaddingMode) {
        self.padding = padding
        self.mode = mode
    }
}
