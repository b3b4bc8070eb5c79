import Foundation
import PareCore
import PareData
import PareTrain

/// How channels are ranked: each criterion gives every unit of every group a score, summed
/// over all the group's members (the unit's weight rows, batch-norm scales and the columns
/// of the layers that read it); the lowest-scoring units are removed first.
public enum PruningCriterion: String, CaseIterable, Codable, Sendable {
    /// Sum of |w| over the unit's slices in every member.
    case l1
    /// Euclidean norm of the unit's slices in every member.
    case l2
    /// |γ| of the unit's batch norms (network slimming; train with `--bn-sparsity` first).
    /// Groups without a batch norm are left whole.
    case bnGamma = "bn-gamma"
    /// First-order Taylor expansion of the loss: Σ |w·∂L/∂w| over the unit's slices (as
    /// Torch-Pruning's TaylorImportance), the gradient summed over the calibration batches (training-mode forward on a copy).
    case taylor
    /// Mean output of the unit's activations (ReLU, ReLU6, hard-swish, sigmoid, leaky ReLU,
    /// PReLU, ELU, tanh, SiLU, hard sigmoid) over the
    /// calibration batches. Groups without an activation are left whole.
    case meanActivation = "mean-activation"
    /// 1 − APoZ, the fraction of the unit's activation outputs that are not zero (Hu et al.).
    case apoz
    /// Filter pruning via geometric median (He et al.): the sum of Euclidean distances of a
    /// producer's filter to the layer's other filters; the most replaceable go first.
    case fpgm
    /// Seeded uniform scores: the baseline every paper compares against.
    case random

    /// Whether the criterion needs calibration data.
    public var needsData: Bool {
        switch self {
        case .taylor, .meanActivation, .apoz: return true
        case .l1, .l2, .bnGamma, .fpgm, .random: return false
        }
    }

    /// Every criterion's name, for help texts.
    public static var names: String { allCases.map(\.rawValue).joined(separator: ", ") }
}

/// Labelled image batches that data-driven criteria (and calibration) run on.
public struct CalibrationData: @unchecked Sendable {
    public var batches: [(images: Tensor, labels: [Int])]

    public init(batches: [(images: Tensor, labels: [Int])]) { self.batches = batches }

    /// The first `count` batches of `dataset` in its order (no shuffling, no augmentation),
    /// with `transforms` (the model's normalisation) applied.
    public static func first(_ count: Int, of dataset: any Dataset, batchSize: Int,
                             transforms: [any Transform]) throws -> CalibrationData {
        let loader = DataLoader(dataset, batchSize: batchSize, shuffle: false, dropLast: false, transforms: transforms)
        let epoch = loader.epoch(0)
        var batches: [(images: Tensor, labels: [Int])] = []
        while batches.count < count, let batch = try epoch.next() {
            batches.append((batch.images.copy(), batch.labels))
        }
        return CalibrationData(batches: batches)
    }
}

/// Unit scores of every group by a criterion: `scores[group][unit]`, nil for a group the
/// criterion cannot score (no batch norm for bn-gamma, no activation for the activation
/// criteria), which is then left whole.
public enum ChannelImportance {
    public static func scores(_ criterion: PruningCriterion, analysis: ChannelAnalysis, data: CalibrationData? = nil,
                              seed: UInt64 = 0, threads: Int = 2) throws -> [[Double]?] {
        if criterion.needsData && (data?.batches.isEmpty ?? true) {
            throw PruningError.criterionNeedsData(criterion: criterion.rawValue)
        }
        let graph = analysis.graph
        var slotScore = [Double](repeating: 0, count: analysis.slotCount)
        var scored = [Bool](repeating: false, count: analysis.slotCount)
        func add(_ s: Int, _ value: Double) {
            slotScore[s] += value
            scored[s] = true
        }
        switch criterion {
        case .l1, .l2:
            let power = criterion == .l1 ? 1.0 : 2.0
            forEachSlice(analysis) { s, name, slice in
                let w = graph.parameters[name]!.floats
                var sum = 0.0
                slice.forEach { i in sum += power == 1 ? Double(abs(w[i])) : Double(w[i] * w[i]) }
                add(s, sum)
            }
        case .bnGamma:
            for (index, node) in graph.nodes.enumerated() {
                guard case .batchNorm = node.op, let gamma = graph.parameters[node.parameterName("weight")] else { continue }
                for c in 0..<gamma.elementCount { add(analysis.slot(index, c), Double(abs(gamma.floats[c]))) }
            }
        case .taylor:
            let gradients = try accumulatedGradients(graph, data: data!, threads: threads, seed: seed)
            forEachSlice(analysis) { s, name, slice in
                guard let g = gradients[name]?.floats else { return }
                let w = graph.parameters[name]!.floats
                var sum = 0.0
                slice.forEach { i in sum += Double(abs(w[i] * g[i])) }
                add(s, sum)
            }
        case .meanActivation, .apoz:
            let statistics = try activationStatistics(graph, data: data!, threads: threads)
            for (node, channels) in statistics {
                for (c, stat) in channels.enumerated() {
                    add(analysis.slot(node, c), criterion == .apoz ? 1 - stat.zeroFraction : stat.mean)
                }
            }
        case .fpgm:
            for (index, node) in graph.nodes.enumerated() {
                switch node.op {
                case .conv2d, .linear:
                    let w = graph.parameters[node.parameterName("weight")]!
                    let rows = w.shape[0], length = w.elementCount / rows
                    let values = w.floats
                    for a in 0..<rows {
                        var total = 0.0
                        for b in 0..<rows where b != a {
                            var d = 0.0
                            for i in 0..<length {
                                let diff = Double(values[a * length + i] - values[b * length + i])
                                d += diff * diff
                            }
                            total += d.squareRoot()
                        }
                        add(analysis.slot(index, a), total)
                    }
                case .input, .batchNorm, .relu, .relu6, .hardSwish, .sigmoid, .leakyRelu, .prelu, .elu, .tanh, .silu,
                     .hardSigmoid, .localResponseNorm, .pad, .mul, .maxPool, .avgPool, .globalAvgPool, .add,
                     .concat, .channelShuffle, .channelSlice, .flatten, .unflatten, .dropout, .softmax:
                    continue
                }
            }
        case .random:
            var generator = SeededGenerator(seed: seed ^ 0x5241_4E44)  // "RAND"
            return analysis.groups.map { group in (0..<group.units).map { _ in Double(generator.nextUniform()) } }
        }
        return analysis.groups.indices.map { g in
            let units = analysis.unitSlots[g]
            guard units.contains(where: { $0.contains { scored[$0] } }) else { return nil }
            return units.map { slots in
                let sum = slots.reduce(0) { $0 + slotScore[$1] }
                return criterion == .l2 ? sum.squareRoot() : sum
            }
        }
    }

    /// Elements `base + r·stride + i` for `r < runs`, `i < length` of a flat parameter: a weight
    /// row, a convolution's input-channel column, a linear layer's feature column, one scale.
    struct Slice {
        var base: Int, length: Int, stride: Int = 0, runs: Int = 1

        func forEach(_ body: (Int) -> Void) {
            for r in 0..<runs {
                let start = base + r * stride
                for i in start ..< start + length { body(i) }
            }
        }
    }

    /// Calls `visit(slot, parameterName, slice)` for every weight slice a unit owns: rows of
    /// convolutions, depthwise convolutions and linear layers (by their output slot),
    /// batch-norm scales, and columns of the convolutions and linear layers that read a slot.
    static func forEachSlice(_ analysis: ChannelAnalysis, _ visit: (Int, String, Slice) -> Void) {
        let graph = analysis.graph
        for (index, node) in graph.nodes.enumerated() {
            switch node.op {
            case let .conv2d(a):
                let name = node.parameterName("weight")
                let w = graph.parameters[name]!
                let outChannels = w.shape[0], perGroupIn = w.shape[1], kernel = w.shape[2] * w.shape[3]
                let row = perGroupIn * kernel
                for o in 0..<outChannels { visit(analysis.slot(index, o), name, Slice(base: o * row, length: row)) }
                let input = node.inputs[0]
                guard !ChannelAnalysis.isDepthwise(a, inputChannels: analysis.extents[input]) else { continue }
                let outWidth = outChannels / a.groups
                for c in 0..<analysis.extents[input] {
                    let group = c / perGroupIn, position = c % perGroupIn
                    visit(analysis.slot(input, c), name,
                          Slice(base: (group * outWidth * perGroupIn + position) * kernel, length: kernel, stride: row, runs: outWidth))
                }
            case .linear:
                let name = node.parameterName("weight")
                let w = graph.parameters[name]!
                let rows = w.shape[0], columns = w.shape[1]
                for o in 0..<rows { visit(analysis.slot(index, o), name, Slice(base: o * columns, length: columns)) }
                for f in 0..<columns {
                    visit(analysis.slot(node.inputs[0], f), name, Slice(base: f, length: 1, stride: columns, runs: rows))
                }
            case .batchNorm:
                for c in 0..<analysis.extents[index] {
                    visit(analysis.slot(index, c), node.parameterName("weight"), Slice(base: c, length: 1))
                }
            case .input, .relu, .relu6, .hardSwish, .sigmoid, .leakyRelu, .prelu, .elu, .tanh, .silu, .hardSigmoid,
                 .localResponseNorm, .pad, .maxPool, .avgPool, .globalAvgPool, .add, .mul, .concat, .channelShuffle,
                 .channelSlice, .flatten, .unflatten, .dropout, .softmax:
                continue
            }
        }
    }

    /// Gradients of the cross-entropy loss summed over the calibration batches, from a
    /// training-mode pass on a copy of the parameters (the model's running statistics are
    /// not touched).
    static func accumulatedGradients(_ graph: Graph, data: CalibrationData, threads: Int,
                                     seed: UInt64) throws -> [String: Tensor] {
        var copy = graph
        copy.parameters = graph.parameters.mapValues { $0.copy() }
        var sums: [String: Tensor] = [:]
        var executors: [Int: DNNLExecutor] = [:]
        for batch in data.batches {
            let size = batch.images.shape[0]
            let executor = try executors[size] ?? DNNLExecutor(graph: copy, batchSize: size, mode: .training,
                                                               configuration: ExecutorConfiguration(threads: threads, seed: seed))
            executors[size] = executor
            let logits = try executor.forward([batch.images])[0]
            let (_, dLogits) = try softmaxCrossEntropy(logits: logits, labels: batch.labels)
            try executor.backward([dLogits])
            for (name, gradient) in executor.parameterGradients {
                if let sum = sums[name] {
                    let s = sum.floats, g = gradient.floats
                    for i in 0..<s.count { s[i] += g[i] }
                } else {
                    sums[name] = gradient.copy()
                }
            }
        }
        return sums
    }

    /// Per-channel mean and fraction of zeros of every activation node's output over the
    /// calibration batches, by node index.
    static func activationStatistics(_ graph: Graph, data: CalibrationData,
                                     threads: Int) throws -> [Int: [(mean: Double, zeroFraction: Double)]] {
        let activations = graph.nodes.indices.filter { index in
            switch graph.nodes[index].op {
            case .relu, .relu6, .hardSwish, .sigmoid, .leakyRelu, .prelu, .elu, .tanh, .silu, .hardSigmoid: return true
            case .input, .conv2d, .batchNorm, .mul, .localResponseNorm, .pad, .maxPool, .avgPool, .globalAvgPool, .linear, .add, .concat,
                 .channelShuffle, .channelSlice, .flatten, .unflatten, .dropout, .softmax:
                return false
            }
        }
        guard !activations.isEmpty else { return [:] }
        var probe = graph
        probe.outputs = activations
        var sums: [Int: [(sum: Double, zeros: Double)]] = [:]
        var counts: [Int: Double] = [:]
        var executors: [Int: DNNLExecutor] = [:]
        for batch in data.batches {
            let size = batch.images.shape[0]
            let executor = try executors[size] ?? DNNLExecutor(
                graph: probe, batchSize: size, mode: .inference,
                configuration: ExecutorConfiguration(threads: threads, fuseInference: false))
            executors[size] = executor
            let outputs = try executor.forward([batch.images])
            for (node, output) in zip(activations, outputs) {
                let channels = output.shape[1], spatial = output.elementCount / (size * channels)
                var stats = sums[node] ?? Array(repeating: (0, 0), count: channels)
                let values = output.floats
                for n in 0..<size {
                    for c in 0..<channels {
                        let base = (n * channels + c) * spatial
                        var sum = 0.0, zeros = 0.0
                        for i in 0..<spatial {
                            let v = values[base + i]
                            sum += Double(v)
                            if v == 0 { zeros += 1 }
                        }
                        stats[c].sum += sum
                        stats[c].zeros += zeros
                    }
                }
                sums[node] = stats
                counts[node, default: 0] += Double(size * spatial)
            }
        }
        return Dictionary(uniqueKeysWithValues: sums.map { node, stats in
            (node, stats.map { (mean: $0.sum / counts[node]!, zeroFraction: $0.zeros / counts[node]!) })
        })
    }
}
