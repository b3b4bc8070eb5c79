/// Output size of a convolution or pooling window along one axis.
public func windowOutputSize(input: Int, kernel: Int, stride: Int, padBefore: Int, padAfter: Int,
                             dilation: Int = 1, ceilMode: Bool = false) -> Int {
    let effectiveKernel = dilation * (kernel - 1) + 1
    let span = input + padBefore + padAfter - effectiveKernel
    if span < 0 { return 0 }
    var out = (ceilMode ? (span + stride - 1) / stride : span / stride) + 1
    // PyTorch: with ceil_mode the last window must start inside the input or left padding.
    if ceilMode && (out - 1) * stride >= input + padBefore { out -= 1 }
    return out
}

/// ``windowOutputSize`` with overflow-checked arithmetic, for attributes read from a file:
/// kernel, stride and dilation must already be positive and padding non-negative. Fails,
/// naming `axis` (`height`, `width`), when the kernel extent `dilation·(kernel−1)+1` or the
/// padded input `input + padBefore + padAfter` overflows.
func checkedWindowOutputSize(axis: String, input: Int, kernel: Int, stride: Int, padBefore: Int, padAfter: Int,
                             dilation: Int = 1, ceilMode: Bool = false) -> Result<Int, ShapeFailure> {
    let (reach, reachOverflow) = dilation.multipliedReportingOverflow(by: kernel - 1)
    let (extent, extentOverflow) = reach.addingReportingOverflow(1)
    guard !reachOverflow, !extentOverflow else {
        return .failure(ShapeFailure("\(axis): kernel extent dilation·(kernel−1)+1 = \(dilation)·(\(kernel)−1)+1 overflows"))
    }
    let (leading, leadingOverflow) = input.addingReportingOverflow(padBefore)
    let (padded, paddedOverflow) = leading.addingReportingOverflow(padAfter)
    guard !leadingOverflow, !paddedOverflow else {
        return .failure(ShapeFailure("\(axis): padded input \(input) + \(padBefore) + \(padAfter) overflows"))
    }
    let span = padded - extent
    if span < 0 { return .success(0) }
    var out = span / stride + (ceilMode && span % stride != 0 ? 1 : 0) + 1
    if ceilMode {
        // PyTorch: with ceil_mode the last window must start inside the input or left padding.
        let (start, overflow) = (out - 1).multipliedReportingOverflow(by: stride)
        if overflow || start >= leading { out -= 1 }
    }
    return .success(out)
}

extension Op {
    /// The per-sample output shape for the given per-sample input shapes, or a reason why
    /// the inputs are invalid for this op.
    ///
    /// Every attribute is checked (positive sizes, non-negative padding, probabilities and
    /// epsilons in range) with overflow-checked arithmetic, and no output or parameter may
    /// have more than ``Shape/maxElementCount`` elements, so a crafted model file gives a
    /// reason naming the field instead of a trap.
    public func outputShape(inputs: [Shape]) -> Result<Shape, ShapeFailure> {
        uncheckedCountOutputShape(inputs: inputs).flatMap { shape in
            guard shape.dimensions.allSatisfy({ $0 > 0 }) else {
                return .failure(ShapeFailure("output shape [\(shape)] has an empty dimension"))
            }
            guard shape.checkedElementCount != nil else {
                return .failure(ShapeFailure("output shape [\(shape)] has more than \(Shape.maxElementCount) elements per sample"))
            }
            return .success(shape)
        }
    }

    private func uncheckedCountOutputShape(inputs: [Shape]) -> Result<Shape, ShapeFailure> {
        if let arity, inputs.count != arity {
            return .failure(ShapeFailure("expects \(arity) input(s), got \(inputs.count)"))
        }
        func image(_ s: Shape) -> Result<(c: Int, h: Int, w: Int), ShapeFailure> {
            guard s.rank == 3 else { return .failure(ShapeFailure("expects a [C, H, W] input, got [\(s)]")) }
            return .success((s[0], s[1], s[2]))
        }
        func text(_ values: [Int]) -> String { "[\(values.map(String.init).joined(separator: ", "))]" }
        func paddingText(_ p: Padding2d) -> String { "padding [top \(p.top), left \(p.left), bottom \(p.bottom), right \(p.right)]" }
        /// Two positive values.
        func pair(_ name: String, _ values: [Int]) -> ShapeFailure? {
            guard values.count == 2 else { return ShapeFailure("\(name) \(text(values)) needs 2 values") }
            guard values.allSatisfy({ $0 > 0 }) else { return ShapeFailure("\(name) \(text(values)) must be positive") }
            return nil
        }
        func nonNegative(_ p: Padding2d) -> ShapeFailure? {
            [p.top, p.left, p.bottom, p.right].allSatisfy { $0 >= 0 } ? nil : ShapeFailure("\(paddingText(p)) must be non-negative")
        }
        /// Output height and width of a window op.
        func window(h: Int, w: Int, kernel: [Int], stride: [Int], padding p: Padding2d, dilation: [Int] = [1, 1],
                    ceilMode: Bool = false) -> Result<(Int, Int), ShapeFailure> {
            checkedWindowOutputSize(axis: "height", input: h, kernel: kernel[0], stride: stride[0], padBefore: p.top,
                                    padAfter: p.bottom, dilation: dilation[0], ceilMode: ceilMode).flatMap { oh in
                checkedWindowOutputSize(axis: "width", input: w, kernel: kernel[1], stride: stride[1], padBefore: p.left,
                                        padAfter: p.right, dilation: dilation[1], ceilMode: ceilMode).map { ow in (oh, ow) }
            }
        }
        /// Fails when a parameter of `shape` would exceed the element bound.
        func parameter(_ name: String, _ shape: [Int]) -> ShapeFailure? {
            Shape.checkedCount(shape) == nil
                ? ShapeFailure("\(name) of shape \(text(shape)) has more than \(Shape.maxElementCount) elements") : nil
        }
        switch self {
        case let .input(shape):
            guard shape.rank >= 1 else { return .failure(ShapeFailure("input shape is empty; inputs are [C, ...] per sample")) }
            if let axis = shape.dimensions.firstIndex(where: { $0 <= 0 }) {
                return .failure(ShapeFailure("input dimension \(axis) of [\(shape)] is \(shape[axis]); it must be positive"))
            }
            guard shape.checkedElementCount != nil else {
                return .failure(ShapeFailure("input shape [\(shape)] has more than \(Shape.maxElementCount) elements per sample"))
            }
            return .success(shape)
        case let .conv2d(a):
            return image(inputs[0]).flatMap { (c, h, w) in
                if let failure = pair("kernelSize", a.kernelSize) ?? pair("stride", a.stride) ?? pair("dilation", a.dilation)
                    ?? nonNegative(a.padding) {
                    return .failure(failure)
                }
                guard a.outChannels > 0 else { return .failure(ShapeFailure("outChannels \(a.outChannels) must be positive")) }
                guard a.groups >= 1, c % a.groups == 0, a.outChannels % a.groups == 0 else {
                    return .failure(ShapeFailure("groups \(a.groups) must divide input channels \(c) and output channels \(a.outChannels)"))
                }
                if let failure = parameter("weight", [a.outChannels, c / a.groups] + a.kernelSize) { return .failure(failure) }
                return window(h: h, w: w, kernel: a.kernelSize, stride: a.stride, padding: a.padding, dilation: a.dilation)
                    .flatMap { oh, ow in
                        guard oh > 0, ow > 0 else {
                            return .failure(ShapeFailure("kernel \(text(a.kernelSize)) with dilation \(text(a.dilation)) larger "
                                                         + "than padded input \(h)x\(w)"))
                        }
                        return .success([a.outChannels, oh, ow])
                    }
            }
        case let .batchNorm(a):
            guard inputs[0].rank == 3 || inputs[0].rank == 1 else {
                return .failure(ShapeFailure("expects a [C, H, W] or [C] input, got [\(inputs[0])]"))
            }
            guard a.eps.isFinite, a.eps >= 0 else { return .failure(ShapeFailure("eps \(a.eps) must be finite and non-negative")) }
            guard a.momentum.isFinite, (0...1).contains(a.momentum) else {
                return .failure(ShapeFailure("momentum \(a.momentum) must be in [0, 1]"))
            }
            return .success(inputs[0])
        case .relu, .relu6, .hardSwish, .sigmoid, .tanh, .silu, .hardSigmoid:
            return .success(inputs[0])
        case let .leakyRelu(negativeSlope):
            guard negativeSlope.isFinite else { return .failure(ShapeFailure("negativeSlope \(negativeSlope) must be finite")) }
            return .success(inputs[0])
        case let .elu(alpha):
            guard alpha.isFinite else { return .failure(ShapeFailure("alpha \(alpha) must be finite")) }
            return .success(inputs[0])
        case .prelu:
            guard inputs[0].rank >= 1 else { return .failure(ShapeFailure("expects a [C, ...] input")) }
            return .success(inputs[0])
        case let .dropout(p):
            guard p >= 0, p < 1 else { return .failure(ShapeFailure("dropout probability \(p) not in [0, 1)")) }
            return .success(inputs[0])
        case let .localResponseNorm(a):
            return image(inputs[0]).flatMap { _ in
                guard a.size >= 1, a.size % 2 == 1 else {
                    return .failure(ShapeFailure("size \(a.size) must be odd and positive (PyTorch and ONNX place an even window differently)"))
                }
                guard a.alpha.isFinite, a.alpha >= 0, a.beta.isFinite, a.k.isFinite, a.k > 0 else {
                    return .failure(ShapeFailure("alpha \(a.alpha), beta \(a.beta), k \(a.k): alpha must be non-negative, "
                                                 + "k positive, all finite"))
                }
                return .success(inputs[0])
            }
        case let .pad(a):
            return image(inputs[0]).flatMap { (c, h, w) in
                let p = a.padding
                if let failure = nonNegative(p) { return .failure(failure) }
                if a.mode == .reflect {
                    guard p.top < h, p.bottom < h, p.left < w, p.right < w else {
                        return .failure(ShapeFailure("reflection \(paddingText(p)) must be less than the input's \(h)x\(w)"))
                    }
                }
                let (h1, o1) = h.addingReportingOverflow(p.top), (w1, o2) = w.addingReportingOverflow(p.left)
                let (h2, o3) = h1.addingReportingOverflow(p.bottom), (w2, o4) = w1.addingReportingOverflow(p.right)
                guard !(o1 || o2 || o3 || o4) else { return .failure(ShapeFailure("padded size overflows: \(paddingText(p))")) }
                return .success([c, h2, w2])
            }
        case let .maxPool(a), let .avgPool(a):
            return image(inputs[0]).flatMap { (c, h, w) in
                if let failure = pair("kernelSize", a.kernelSize) ?? pair("stride", a.stride) ?? nonNegative(a.padding) {
                    return .failure(failure)
                }
                // 2 * padding <= kernel (PyTorch's rule, on the leading sides: an imported Pad
                // may add more after), written so that it cannot overflow.
                guard a.padding.top <= a.kernelSize[0] / 2, a.padding.left <= a.kernelSize[1] / 2 else {
                    return .failure(ShapeFailure("\(paddingText(a.padding)) should be at most half the kernel size \(text(a.kernelSize))"))
                }
                return window(h: h, w: w, kernel: a.kernelSize, stride: a.stride, padding: a.padding, ceilMode: a.ceilMode)
                    .flatMap { oh, ow in
                        guard oh > 0, ow > 0 else {
                            return .failure(ShapeFailure("window \(text(a.kernelSize)) larger than padded input \(h)x\(w)"))
                        }
                        return .success([c, oh, ow])
                    }
            }
        case .globalAvgPool:
            return image(inputs[0]).map { (c, _, _) in [c, 1, 1] }
        case let .linear(a):
            guard inputs[0].rank == 1 else {
                return .failure(ShapeFailure("expects a flat [F] input, got [\(inputs[0])]; add a flatten first"))
            }
            guard a.outFeatures > 0 else { return .failure(ShapeFailure("outFeatures \(a.outFeatures) must be positive")) }
            if let failure = parameter("weight", [a.outFeatures, inputs[0][0]]) { return .failure(failure) }
            return .success([a.outFeatures])
        case .add:
            guard inputs[0] == inputs[1] else {
                return .failure(ShapeFailure("inputs have different shapes [\(inputs[0])] and [\(inputs[1])]"))
            }
            return .success(inputs[0])
        case .mul:
            let (a, b) = (inputs[0], inputs[1])
            let gate = a.rank == 3 && b.rank == 3 && b[0] == a[0] && b[1] == 1 && b[2] == 1
            guard a == b || gate else {
                return .failure(ShapeFailure("inputs [\(a)] and [\(b)] are neither the same shape nor [C, H, W] and [C, 1, 1]"))
            }
            return .success(a)
        case .concat:
            guard inputs.count >= 2 else { return .failure(ShapeFailure("expects 2 or more inputs, got \(inputs.count)")) }
            guard inputs.allSatisfy({ $0.rank == inputs[0].rank && $0.rank >= 1 }),
                  inputs.allSatisfy({ Array($0.dimensions.dropFirst()) == Array(inputs[0].dimensions.dropFirst()) }) else {
                return .failure(ShapeFailure("inputs differ in more than the channel axis: \(inputs.map { "[\($0)]" }.joined(separator: ", "))"))
            }
            var channels = 0
            for input in inputs {
                let (sum, overflow) = channels.addingReportingOverflow(input[0])
                guard !overflow else { return .failure(ShapeFailure("the sum of the input channels overflows")) }
                channels = sum
            }
            var dims = inputs[0].dimensions
            dims[0] = channels
            return .success(Shape(dims))
        case let .channelShuffle(groups):
            return image(inputs[0]).flatMap { (c, _, _) in
                guard groups >= 1, c % groups == 0 else {
                    return .failure(ShapeFailure("groups \(groups) must divide channels \(c)"))
                }
                return .success(inputs[0])
            }
        case let .channelSlice(start, count):
            guard inputs[0].rank >= 1 else { return .failure(ShapeFailure("expects a [C, ...] input")) }
            // start + count <= C, written so that it cannot overflow.
            guard start >= 0, count > 0, start <= inputs[0][0] - count else {
                return .failure(ShapeFailure("channels start \(start), count \(count) are outside the input's \(inputs[0][0])"))
            }
            var dims = inputs[0].dimensions
            dims[0] = count
            return .success(Shape(dims))
        case .flatten:
            guard let count = inputs[0].checkedElementCount else {
                return .failure(ShapeFailure("input [\(inputs[0])] has more than \(Shape.maxElementCount) elements"))
            }
            return .success([count])
        case .softmax:
            guard inputs[0].rank == 1 else { return .failure(ShapeFailure("expects a flat [F] input, got [\(inputs[0])]")) }
            return .success(inputs[0])
        case .unflatten:
            guard inputs[0].rank == 1 else { return .failure(ShapeFailure("expects a flat [F] input, got [\(inputs[0])]")) }
            return .success([inputs[0][0], 1, 1])
        }
    }

    /// The parameters and buffers this op owns, in PyTorch's state-dict order, for the given
    /// per-sample input shapes (which must be valid for the op).
    public func parameterSpecs(inputs: [Shape]) -> [ParameterSpec] {
        switch self {
        case .input, .relu, .relu6, .hardSwish, .sigmoid, .leakyRelu, .elu, .tanh, .silu, .hardSigmoid, .localResponseNorm,
             .pad, .maxPool, .avgPool,
             .globalAvgPool, .add, .mul, .concat, .channelShuffle, .channelSlice, .flatten, .unflatten, .dropout, .softmax:
            return []
        case let .prelu(perChannel):
            return [ParameterSpec(suffix: "weight", shape: [perChannel ? inputs[0][0] : 1], role: .slope)]
        case let .conv2d(a):
            let inChannels = inputs[0][0]
            var specs = [ParameterSpec(suffix: "weight", shape: [a.outChannels, inChannels / a.groups, a.kernelSize[0], a.kernelSize[1]], role: .weight)]
            if a.bias { specs.append(ParameterSpec(suffix: "bias", shape: [a.outChannels], role: .bias)) }
            return specs
        case .batchNorm:
            let c = inputs[0][0]
            return [
                ParameterSpec(suffix: "weight", shape: [c], role: .weight),
                ParameterSpec(suffix: "bias", shape: [c], role: .bias),
                ParameterSpec(suffix: "running_mean", shape: [c], role: .runningMean),
                ParameterSpec(suffix: "running_var", shape: [c], role: .runningVariance),
                ParameterSpec(suffix: "num_batches_tracked", shape: [], role: .batchCount),
            ]
        case let .linear(a):
            var specs = [ParameterSpec(suffix: "weight", shape: [a.outFeatures, inputs[0][0]], role: .weight)]
            if a.bias { specs.append(ParameterSpec(suffix: "bias", shape: [a.outFeatures], role: .bias)) }
            return specs
        }
    }
}

/// Why an op rejects its inputs.
public struct ShapeFailure: Error, Equatable, CustomStringConvertible {
    public var reason: String
    public init(_ reason: String) { self.reason = reason }
    public var description: String { reason }
}

/// A parameter or buffer an op owns.
public struct ParameterSpec: Hashable, Sendable {
    public enum Role: Hashable, Sendable {
        /// `slope` is PReLU's learned negative slope (initialised to 0.25, as PyTorch does).
        case weight, bias, slope, runningMean, runningVariance, batchCount
        /// The 8-bit weights of a quantised node, and their per-output-channel f32 scales.
        case quantizedWeight, weightScale
        /// Trained by the optimizer (PyTorch `requires_grad`); the rest are buffers.
        public var isTrainable: Bool {
            switch self {
            case .weight, .bias, .slope: return true
            case .runningMean, .runningVariance, .batchCount, .quantizedWeight, .weightScale: return false
            }
        }
    }
    public var suffix: String
    public var shape: Shape
    public var role: Role
    public var dtype: DType {
        switch role {
        case .batchCount: return .i64
        case .quantizedWeight: return .i8
        case .weight, .bias, .slope, .runningMean, .runningVariance, .weightScale: return .f32
        }
    }
}
