import PareCore
import PareData
import XCTest

/// Every parameter of `graph` replaced by seeded values that make a test discriminating:
/// weights uniform in ±1/sqrt(fan-in), biases and batch-norm shifts in ±0.5, batch-norm
/// scales in [0.5, 1.5], running means in ±0.2 and variances in [0.5, 1.5]. Each tensor is
/// windows of one seeded block of 4,099 uniform values (a debug build draws a VGG's 138 M
/// values one by one too slowly).
func randomized(_ structure: Graph, seed: UInt64) throws -> Graph {
    var graph = structure
    var generator = SeededGenerator(seed: seed)
    let block = Tensor.randomUniform([4099], low: -1, high: 1, generator: &generator).scalars
    var offset = 0
    func fill(_ shape: Shape, low: Float, high: Float) -> Tensor {
        let tensor = Tensor(zeros: shape)
        let values = tensor.floats
        var written = 0
        while written < values.count {
            let start = offset % block.count
            let count = min(block.count - start, values.count - written)
            for i in 0..<count { values[written + i] = block[start + i] }
            written += count
            offset += count + 7
        }
        let scale = (high - low) / 2, middle = (high + low) / 2
        if scale != 1 || middle != 0 { for i in 0..<values.count { values[i] = values[i] * scale + middle } }
        return tensor
    }
    let batchNorms = Set(graph.nodes.filter { if case .batchNorm = $0.op { return true } else { return false } }.map(\.name))
    for (name, index, spec) in try graph.parameterSpecs() {
        let isBatchNorm = batchNorms.contains(graph.nodes[index].name)
        switch spec.role {
        case .weight where !isBatchNorm:
            let bound = 1 / Float(max(1, spec.shape.elementCount / spec.shape[0])).squareRoot()
            graph.parameters[name] = fill(spec.shape, low: -bound, high: bound)
        case .weight, .runningVariance:
            graph.parameters[name] = fill(spec.shape, low: 0.5, high: 1.5)
        case .bias, .slope:
            graph.parameters[name] = fill(spec.shape, low: -0.5, high: 0.5)
        case .runningMean:
            graph.parameters[name] = fill(spec.shape, low: -0.2, high: 0.2)
        case .batchCount:
            graph.parameters[name] = Tensor(zeros: spec.shape, dtype: .i64)
        case .quantizedWeight, .weightScale:
            throw GraphError.invalidGraph("random parameters are for f32 graphs; '\(name)' is quantised")
        }
    }
    try graph.validate()
    return graph
}

/// The worst element of `actual` against `expected` relative to the largest |expected|:
/// fails when shapes differ or `max |a - e| > rtol * max |e| + atol`, naming the element.
func assertCloseRelative(_ actual: Tensor, _ expected: Tensor, rtol: Double, atol: Double = 1e-7, _ label: String,
                         file: StaticString = #filePath, line: UInt = #line) {
    guard actual.shape == expected.shape else {
        return XCTFail("\(label): shape \(actual.shape) vs expected \(expected.shape)", file: file, line: line)
    }
    let a = actual.floats, e = expected.floats
    let scale = e.reduce(0) { max($0, Double(abs($1))) }
    var worst = 0, worstError = -1.0
    for i in 0..<a.count {
        let error = Double(abs(a[i] - e[i]))
        if error > worstError || error.isNaN { worst = i; worstError = error.isNaN ? .infinity : error }
    }
    if worstError > rtol * scale + atol {
        XCTFail("\(label): worst element \(worst): \(a[worst]) vs expected \(e[worst]) (error \(worstError), "
                + "allowed \(rtol) x max |expected| \(scale) + \(atol))", file: file, line: line)
    }
}

/// 4 classes of 12x12 images: a bright square in one quadrant, plus noise.
func quadrants(count: Int, seed: UInt64) -> InMemoryDataset {
    var generator = SeededGenerator(seed: seed)
    var pixels: [UInt8] = [], labels: [Int] = []
    for _ in 0..<count {
        let label = Int(generator.next() % 4)
        for y in 0..<12 {
            for x in 0..<12 {
                pixels.append(UInt8(min(255, ((y / 6) * 2 + (x / 6) == label ? 140 : 20) + Int(generator.next() % 96))))
            }
        }
        labels.append(label)
    }
    return InMemoryDataset(sampleShape: [1, 12, 12], classes: 4, classNames: nil, pixels: pixels, labels: labels)
}
