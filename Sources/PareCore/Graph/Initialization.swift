extension Graph {
    /// Creates every parameter and buffer the nodes need, initialised as torchvision does
    /// (conv: Kaiming normal, fan-out, ReLU gain; batch norm: weight 1, bias 0, running
    /// mean 0, var 1; linear: weight uniform ±1/sqrt(fanIn), bias 0; PReLU slope 0.25), from `seed`.
    /// Existing parameters with the right shape are kept.
    public mutating func initializeParameters(seed: UInt64) throws {
        var generator = SeededGenerator(seed: seed)
        for (name, _, spec) in try parameterSpecs() {
            if let existing = parameters[name], existing.shape == spec.shape, existing.dtype == spec.dtype { continue }
            parameters[name] = Graph.initialValue(spec, generator: &generator)
        }
    }

    static func initialValue(_ spec: ParameterSpec, generator: inout SeededGenerator) -> Tensor {
        let shape = spec.shape
        switch spec.role {
        case .weight where shape.rank == 4:
            let fanOut = shape[0] * shape[2] * shape[3]
            return Tensor.randomNormal(shape, std: (2.0 / Float(fanOut)).squareRoot(), generator: &generator)
        case .weight where shape.rank == 2:
            let bound = 1 / Float(shape[1]).squareRoot()
            return Tensor.randomUniform(shape, low: -bound, high: bound, generator: &generator)
        case .weight:
            return Tensor(repeating: 1, shape: shape)  // batch norm scale
        case .bias:
            return Tensor(zeros: shape)
        case .slope:
            return Tensor(repeating: 0.25, shape: shape)  // PReLU
        case .runningMean:
            return Tensor(zeros: shape)
        case .runningVariance:
            return Tensor(repeating: 1, shape: shape)
        case .batchCount:
            return Tensor(zeros: shape, dtype: .i64)
        case .quantizedWeight:
            return Tensor(zeros: shape, dtype: .i8)
        case .weightScale:
            return Tensor(repeating: 1, shape: shape)
        }
    }
}
