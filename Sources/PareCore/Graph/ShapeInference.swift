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

extension Op {
    /// The per-sample output shape for the given per-sample input shapes, or a reason why
    /// the inputs are invalid for this op.
    public func outputShape(inputs: [Shape]) -> Result<Shape, ShapeFailure> {
        if let arity, inputs.count != arity {
            return .failure(ShapeFailure("expects \(arity) input(s), got \(inputs.count)"))
        }
        func image(_ s: Shape) -> Result<(c: Int, h: Int, w: Int), ShapeFailure> {
            guard s.rank == 3 else { return .failure(ShapeFailure("expects a [C, H, W] input, got [\(s)]")) }
            return .success((s[0], s[1], s[2]))
        }
        switch self {
        case let .input(shape):
            return .success(shape)
        case let .conv2d(a):
            return image(inputs[0]).flatMap { (c, h, w) in
                guard a.kernelSize.count == 2, a.stride.count == 2, a.dilation.count == 2 else {
                    return .failure(ShapeFailure("kernelSize, stride and dilation need 2 values each"))
                }
                guard a.groups >= 1, c % a.groups == 0, a.outChannels % a.groups == 0 else {
                    return .failure(ShapeFailure("groups \(a.groups) must divide input channels \(c) and output channels \(a.outChannels)"))
                }
                guard a.outChannels > 0, a.kernelSize.allSatisfy({ $0 > 0 }), a.stride.allSatisfy({ $0 > 0 }),
                      a.dilation.allSatisfy({ $0 > 0 }) else {
                    return .failure(ShapeFailure("outChannels, kernel, stride and dilation must be positive"))
                }
                let oh = windowOutputSize(input: h, kernel: a.kernelSize[0], stride: a.stride[0],
                                          padBefore: a.padding.top, padAfter: a.padding.bottom, dilation: a.dilation[0])
                let ow = windowOutputSize(input: w, kernel: a.kernelSize[1], stride: a.stride[1],
                                          padBefore: a.padding.left, padAfter: a.padding.right, dilation: a.dilation[1])
                guard oh > 0, ow > 0 else {
                    return .failure(ShapeFailure("kernel \(a.kernelSize) larger than padded input \(h)x\(w)"))
                }
                return .success([a.outChannels, oh, ow])
            }
        case .batchNorm:
            guard inputs[0].rank == 3 || inputs[0].rank == 1 else {
                return .failure(ShapeFailure("expects a [C, H, W] or [C] input, got [\(inputs[0])]"))
            }
            return .success(inputs[0])
        case .relu, .relu6, .hardSwish, .sigmoid:
            return .success(inputs[0])
        case let .dropout(p):
            guard p >= 0, p < 1 else { return .failure(ShapeFailure("dropout probability \(p) not in [0, 1)")) }
            return .success(inputs[0])
        case let .maxPool(a), let .avgPool(a):
            return image(inputs[0]).flatMap { (c, h, w) in
                guard a.kernelSize.count == 2, a.stride.count == 2, a.kernelSize.allSatisfy({ $0 > 0 }),
                      a.stride.allSatisfy({ $0 > 0 }) else {
                    return .failure(ShapeFailure("kernelSize and stride need 2 positive values each"))
                }
                guard a.padding.top * 2 <= a.kernelSize[0], a.padding.left * 2 <= a.kernelSize[1] else {
                    return .failure(ShapeFailure("padding should be at most half the kernel size"))
                }
                let oh = windowOutputSize(input: h, kernel: a.kernelSize[0], stride: a.stride[0],
                                          padBefore: a.padding.top, padAfter: a.padding.bottom, ceilMode: a.ceilMode)
                let ow = windowOutputSize(input: w, kernel: a.kernelSize[1], stride: a.stride[1],
                                          padBefore: a.padding.left, padAfter: a.padding.right, ceilMode: a.ceilMode)
                guard oh > 0, ow > 0 else {
                    return .failure(ShapeFailure("window \(a.kernelSize) larger than padded input \(h)x\(w)"))
                }
                return .success([c, oh, ow])
            }
        case .globalAvgPool:
            return image(inputs[0]).map { (c, _, _) in [c, 1, 1] }
        case let .linear(a):
            guard inputs[0].rank == 1 else {
                return .failure(ShapeFailure("expects a flat [F] input, got [\(inputs[0])]; add a flatten first"))
            }
            guard a.outFeatures > 0 else { return .failure(ShapeFailure("outFeatures must be positive")) }
            return .success([a.outFeatures])
        case .add:
            guard inputs[0] == inputs[1] else {
                return .failure(ShapeFailure("inputs have different shapes [\(inputs[0])] and [\(inputs[1])]"))
            }
            return .success(inputs[0])
        case .concat:
            guard inputs.count >= 2 else { return .failure(ShapeFailure("expects 2 or more inputs, got \(inputs.count)")) }
            guard inputs.allSatisfy({ $0.rank == inputs[0].rank && $0.rank >= 1 }),
                  inputs.allSatisfy({ Array($0.dimensions.dropFirst()) == Array(inputs[0].dimensions.dropFirst()) }) else {
                return .failure(ShapeFailure("inputs differ in more than the channel axis: \(inputs.map { "[\($0)]" }.joined(separator: ", "))"))
            }
            var dims = inputs[0].dimensions
            dims[0] = inputs.reduce(0) { $0 + $1[0] }
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
            guard start >= 0, count > 0, start + count <= inputs[0][0] else {
                return .failure(ShapeFailure("channels \(start)..<\(start + count) outside the input's \(inputs[0][0])"))
            }
            var dims = inputs[0].dimensions
            dims[0] = count
            return .success(Shape(dims))
        case .flatten:
            return .success([inputs[0].elementCount])
        case .softmax:
            guard inputs[0].rank == 1 else { return .failure(ShapeFailure("expects a flat [F] input, got [\(inputs[0])]")) }
            return .success(inputs[0])
        }
    }

    /// The parameters and buffers this op owns, in PyTorch's state-dict order, for the given
    /// per-sample input shapes (which must be valid for the op).
    public func parameterSpecs(inputs: [Shape]) -> [ParameterSpec] {
        switch self {
        case .input, .relu, .relu6, .hardSwish, .sigmoid, .maxPool, .avgPool, .globalAvgPool, .add,
             .concat, .channelShuffle, .channelSlice, .flatten, .dropout, .softmax:
            return []
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
        case weight, bias, runningMean, runningVariance, batchCount
        /// Trained by the optimizer (PyTorch `requires_grad`); the rest are buffers.
        public var isTrainable: Bool {
            switch self {
            case .weight, .bias: return true
            case .runningMean, .runningVariance, .batchCount: return false
            }
        }
    }
    public var suffix: String
    public var shape: Shape
    public var role: Role
    public var dtype: DType { role == .batchCount ? .i64 : .f32 }
}
