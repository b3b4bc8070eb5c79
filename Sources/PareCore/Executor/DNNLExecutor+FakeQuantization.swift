import CDNNL

/// Quantisation-aware training in the executor: with a ``FakeQuantization`` the forward pass
/// computes what the int8 model will, in f32, and the backward pass is the straight-through
/// estimator's.
///
/// - Weights: the primitives read a fake-quantised copy of each planned layer's weights,
///   refreshed from the f32 weights before every training forward pass (in inference, when
///   planned and on ``DNNLExecutor/reloadParameters()``). Their gradient is the gradient of the
///   copy, handed to the f32 weights unchanged: the weights' scale is the largest magnitude
///   of each channel, so nothing is clipped and the estimator's mask is all ones.
/// - Activations: right after a planned node's forward pass its output is rounded in place
///   (consumers read the rounded values); in training its range is first moved towards the
///   batch's extremes, and a mask records which values were inside the clipping range. At the
///   start of the node's backward pass its output gradient is zeroed outside it.
extension DNNLExecutor {
    /// The tensor the primitives read as weights `name`: the fake-quantised copy in a
    /// quantisation-aware run, else the graph's own.
    func weightTensor(_ name: String) -> Tensor {
        fakeQuantizedWeights[name] ?? graph.parameters[name]!
    }

    /// Creates the fake-quantised weight copies and the steps that refresh them (first of the
    /// forward pass in training, of the preparation in inference).
    func planFakeQuantizedWeights(_ fakeQuantization: FakeQuantization) {
        for entry in fakeQuantization.plan.weights {
            guard let node = graph.nodes.first(where: { $0.name == entry.node }) else { continue }
            let name = node.parameterName("weight")
            let weight = graph.parameters[name]!
            let copy = Tensor(zeros: weight.shape)
            fakeQuantizedWeights[name] = copy
            let quantization = WeightQuantization(bits: entry.bits)
            let step = Step.swift("\(name) fake-quantised") { _ in quantization.fakeQuantize(weight, into: copy) }
            if mode == .training { forwardSteps.append(step) } else { preparationSteps.append(step) }
        }
    }

    /// Plans the fake quantisation of node `i`'s output, when the plan names it.
    func compileFakeQuantizedOutput(_ i: Int, _ fakeQuantization: FakeQuantization) throws {
        let name = graph.nodes[i].name
        guard let entry = fakeQuantization.activation(name) else { return }
        let t = forwardTime(i)
        let y = valueBuffer[i]
        let count = floatCount(y)
        let observes = mode == .training && entry.rangeOf == nil
        var mask: Int?
        if mode == .training && backwardActive[i] {
            let m = newBuffer(try MemoryDescriptor.plain([count], dtype: dnnl_u8), at: t)
            touch(m, backwardTime(i))
            fakeQuantizationMasks[i] = m
            mask = m
        }
        addSwift(at: t, touching: [y] + (mask.map { [$0] } ?? []), label: "\(name) fake-quantised") { ex in
            let values = ex.floatPointer(y)
            if observes {
                let (low, high) = extremes(values, count: count)
                fakeQuantization.observe(name, minimum: low, maximum: high)
            }
            fakeQuantizeForward(values, mask: mask.map { ex.bytePointer($0) }, count: count,
                                quantization: fakeQuantization.quantization(of: name)!)
        }
    }

    /// Plans the straight-through estimator at the start of node `i`'s backward pass.
    func compileFakeQuantizedGradient(_ i: Int) {
        guard let mask = fakeQuantizationMasks[i] else { return }
        let g = outputGradient(i)
        addSwift(at: backwardTime(i), touching: [g, mask], label: "\(graph.nodes[i].name) fake-quantisation backward") { ex in
            fakeQuantizeBackward(ex.floatPointer(g), mask: ex.bytePointer(mask), count: ex.floatCount(g))
        }
    }
}
