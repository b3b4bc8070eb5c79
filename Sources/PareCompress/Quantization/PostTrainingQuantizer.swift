import Foundation
import PareCore

/// Settings of post-training quantisation.
public struct QuantizationSettings: Sendable {
    public var method: CalibrationMethod
    /// 8, or 7 (onnxruntime's `reduce_range`) so that the 16-bit pair sums of AVX2's
    /// `vpmaddubsw` cannot saturate on CPUs without VNNI; see ``WeightQuantization``.
    public var weightBits: Int
    /// Convolutions and linear layers (by node name) kept in f32.
    public var keepFloat: [String]
    /// Convolutions with fewer input channels than this (an image's first layer) are kept in
    /// f32. oneDNN's int8 convolutions pad the input channels to 4, and on AVX2 without VNNI
    /// they ran such a layer 1.5–2.3× slower than its f32 kernel (see
    /// `CPUFeatures.int8MinimumInputChannels`); 1 quantises every convolution.
    public var minimumInputChannels: Int
    public var histogramBins: Int
    /// Threads of the calibration executor.
    public var threads: Int
    /// A residual add that reads an int8 convolution (`conv → add [→ relu]`, the other input
    /// computed earlier) runs inside the convolution's primitive as oneDNN's sum post-op: the
    /// convolution's result is not rounded to 8 bits of its own before the add (one rounding
    /// fewer, one pass over memory fewer). false rounds it first and runs the add on its own,
    /// as onnxruntime's QLinearConv → QLinearAdd do; its QDQ export then has a
    /// QuantizeLinear after every convolution, so onnxruntime runs them all in int8 (with
    /// the fused form it runs the summed convolutions in f32).
    public var fuseResidualAdds: Bool

    public init(method: CalibrationMethod = .minMax, weightBits: Int = 7, keepFloat: [String] = [],
                minimumInputChannels: Int = 1, histogramBins: Int = 2048, threads: Int = 1,
                fuseResidualAdds: Bool = true) {
        self.method = method
        self.weightBits = weightBits
        self.keepFloat = keepFloat
        self.minimumInputChannels = minimumInputChannels
        self.histogramBins = histogramBins
        self.threads = threads
        self.fuseResidualAdds = fuseResidualAdds
    }
}

/// What quantisation did to one node.
public struct QuantizedLayer: Codable, Hashable, Sendable {
    public var name: String
    public var kind: String
    /// "int8" or "f32".
    public var precision: String
    /// Why a node stays f32, or how an int8 node's output is kept ("fused into relu").
    public var note: String?
    /// The stored output: dtype, scale and the calibrated magnitude it covers.
    public var outputDType: String?
    public var outputScale: Float?
    public var calibratedBound: Float?
    public var observedMaximum: Float?
}

/// The record of one quantisation.
public struct QuantizationReport: Codable, Sendable {
    public var method: String
    public var weightBits: Int
    public var calibrationBatches: Int
    public var calibrationSamples: Int
    public var foldedBatchNorms: [String]
    public var layers: [QuantizedLayer]

    public var int8Layers: Int { layers.filter { $0.precision == "int8" && ($0.kind == "conv2d" || $0.kind == "linear") }.count }
    public var floatLayers: [QuantizedLayer] {
        layers.filter { $0.precision == "f32" && ($0.kind == "conv2d" || $0.kind == "linear") }
    }
}

/// Post-training static quantisation: folds batch norms into convolutions, decides which
/// nodes run in int8, calibrates their activation ranges on sample batches, and returns the
/// same graph with every int8 node annotated (``NodeQuantization``) and its weights stored
/// as per-output-channel symmetric `i8`.
///
/// Which nodes run int8 (the rules the executor's int8 lowering follows):
/// convolutions and linear layers (unless kept in f32); a ReLU or ReLU6 that is the only
/// consumer of such a layer or of an int8 add (fused into it, its output calibrated, u8);
/// an add whose inputs are both int8 (calibrated, s8); with `fuseResidualAdds`, an add that
/// is an int8 convolution's only consumer and whose other input is int8 and computed before
/// the convolution is that convolution's sum post-op (the convolution's output is then not
/// calibrated, the add's or its fused activation's is: the executor's
/// `DNNLExecutor.int8ResidualAdd(after:)`); a concatenation of int8 inputs
/// (calibrated); max, average and global average pooling, flatten, dropout, channel shuffle,
/// slice and a standalone ReLU of an int8 input (they keep its scale). Graph inputs are
/// calibrated by their largest magnitude whatever the method (the data is not clipped) and
/// quantised by the reorder into their first int8 consumer. Everything else
/// (sigmoid, hard-swish, softmax, unfolded batch norm, standalone ReLU6) stays f32 and reads
/// its input dequantised; its output is calibrated when an int8 layer consumes it.
/// The logits of a final linear layer are written in f32.
public struct PostTrainingQuantizer {
    public let settings: QuantizationSettings

    public init(settings: QuantizationSettings = QuantizationSettings()) {
        self.settings = settings
    }

    enum Annotation: Equatable {
        case none
        /// Own range from calibration.
        case observed(unsigned: Bool)
        /// The same scale as another node's output (pass-through ops).
        case derived(from: Int, unsigned: Bool)
    }

    struct Plan {
        var int8: [Bool]
        var annotation: [Annotation]
        var notes: [Int: String]
        var observed: [Int] {
            annotation.indices.filter { if case .observed = annotation[$0] { return true } else { return false } }
        }
    }

    /// Which nodes of `graph` (batch norms already folded) run int8, and how each output is kept.
    func plan(_ graph: Graph) throws -> Plan {
        let nodes = graph.nodes
        let count = nodes.count
        let consumers = graph.consumers
        let outputs = Set(graph.outputs)
        let shapes = try graph.inferShapes()
        let layerNames = nodes.filter { isWeightedLayer($0.op) }.map(\.name)
        for name in settings.keepFloat where !layerNames.contains(name) {
            throw QuantizationError.unknownNode(name, known: layerNames)
        }
        let keep = Set(settings.keepFloat)
        var int8 = [Bool](repeating: false, count: count)
        var annotation = [Annotation](repeating: .none, count: count)
        var notes: [Int: String] = [:]
        var fusedInto: [Int: Int] = [:]  // activation -> producer
        var summedInto: [Int: Int] = [:]  // residual add -> the convolution computing it
        /// Whether a value can be read as int8 by a consumer.
        func available(_ i: Int) -> Bool { annotation[i] != .none }
        func unsigned(_ i: Int) -> Bool {
            switch annotation[i] {
            case .none: return false
            case let .observed(u), let .derived(_, u): return u
            }
        }
        /// The activation fused into compute node `i`, if any.
        func fusableActivation(_ i: Int) -> Int? {
            guard !outputs.contains(i), consumers[i].count == 1 else { return nil }
            let c = consumers[i][0]
            if case .relu = nodes[c].op { return c }
            if case .relu6 = nodes[c].op { return c }
            return nil
        }
        /// The residual add computed as convolution `i`'s sum post-op, if any.
        func summableAdd(_ i: Int) -> Int? {
            guard settings.fuseResidualAdds, case .conv2d = nodes[i].op,
                  !outputs.contains(i), consumers[i].count == 1 else { return nil }
            let add = consumers[i][0]
            // An add that is a graph output writes f32 and runs on its own.
            guard case .add = nodes[add].op, !outputs.contains(add), nodes[add].inputs.count == 2,
                  nodes[add].inputs[0] != nodes[add].inputs[1] else { return nil }
            let other = nodes[add].inputs[0] == i ? nodes[add].inputs[1] : nodes[add].inputs[0]
            guard other < i, available(other), shapes[other] == shapes[i] else { return nil }
            return add
        }
        for i in 0..<count {
            let node = nodes[i]
            if node.quantization != nil { throw QuantizationError.alreadyQuantized(node: node.name) }
            switch node.op {
            case .input:
                annotation[i] = .observed(unsigned: false)  // unsigned decided from the data
                notes[i] = "f32 input, quantised by the reorder into its int8 consumers"
            case .conv2d, .linear:
                if keep.contains(node.name) {
                    notes[i] = "kept in f32 (asked)"
                    continue
                }
                if case .conv2d = node.op, let channels = shapes[node.inputs[0]].dimensions.first,
                   channels < settings.minimumInputChannels {
                    notes[i] = "kept in f32 (\(channels) input channel\(channels == 1 ? "" : "s"), below the int8 minimum of \(settings.minimumInputChannels))"
                    continue
                }
                let p = node.inputs[0]
                if !available(p) {
                    // An f32 node's output feeding an int8 layer: calibrate it, quantise on read.
                    annotation[p] = .observed(unsigned: false)
                }
                int8[i] = true
                if let activation = fusableActivation(i) {
                    fusedInto[activation] = i
                    notes[i] = "\(nodes[activation].op.kind) fused into the int8 primitive"
                } else if outputs.contains(i) {
                    notes[i] = "output written in f32"
                } else if let add = summableAdd(i) {
                    summedInto[add] = i
                    notes[i] = "\(nodes[add].name) fused into the int8 primitive (residual sum)"
                } else {
                    annotation[i] = .observed(unsigned: false)
                }
            case .relu, .relu6:
                let p = node.inputs[0]
                if fusedInto[i] != nil {
                    int8[i] = true
                    annotation[i] = .observed(unsigned: true)
                    notes[i] = "computed by \(nodes[fusedInto[i]!].name)'s int8 primitive"
                } else if case .relu = node.op, available(p) {
                    int8[i] = true
                    annotation[i] = .derived(from: p, unsigned: true)
                } else {
                    notes[i] = available(p) ? "no int8 kernel for a standalone relu6" : "input is f32"
                }
            case .add:
                if let convolution = summedInto[i] {
                    int8[i] = true
                    if let activation = fusableActivation(i) {
                        fusedInto[activation] = convolution
                        notes[i] = "computed by \(nodes[convolution].name)'s int8 primitive, with its \(nodes[activation].op.kind)"
                    } else {
                        annotation[i] = .observed(unsigned: false)
                        notes[i] = "computed by \(nodes[convolution].name)'s int8 primitive"
                    }
                    continue
                }
                guard node.inputs.allSatisfy(available) else { notes[i] = "an input is f32"; continue }
                if let activation = fusableActivation(i) {
                    int8[i] = true
                    fusedInto[activation] = i
                    notes[i] = "\(nodes[activation].op.kind) fused into the int8 add"
                } else if outputs.contains(i) {
                    notes[i] = "graph output: runs in f32"
                } else {
                    int8[i] = true
                    annotation[i] = .observed(unsigned: false)
                }
            case .concat:
                guard node.inputs.allSatisfy(available) else { notes[i] = "an input is f32"; continue }
                int8[i] = true
                annotation[i] = .observed(unsigned: node.inputs.allSatisfy(unsigned))
            case let .avgPool(a):
                let p = node.inputs[0]
                let src = shapes[p], dst = shapes[i]
                let extends = a.ceilMode && a.countIncludePad
                    && ((dst[1] - 1) * a.stride[0] + a.kernelSize[0] > src[1] + a.padding.top + a.padding.bottom
                        || (dst[2] - 1) * a.stride[1] + a.kernelSize[1] > src[2] + a.padding.left + a.padding.right)
                guard available(p), !extends else {
                    notes[i] = available(p) ? "ceil-mode average pooling counting padding has no int8 kernel" : "input is f32"
                    continue
                }
                int8[i] = true
                annotation[i] = .derived(from: p, unsigned: unsigned(p))
            case .maxPool, .globalAvgPool, .flatten, .dropout, .channelShuffle, .channelSlice:
                let p = node.inputs[0]
                guard available(p) else { notes[i] = "input is f32"; continue }
                int8[i] = true
                annotation[i] = .derived(from: p, unsigned: unsigned(p))
            case .batchNorm:
                notes[i] = "batch norm not after a convolution: no int8 kernel, runs in f32"
            case .hardSwish, .sigmoid, .softmax, .leakyRelu, .prelu, .elu, .tanh, .silu, .hardSigmoid, .localResponseNorm, .pad, .mul, .unflatten:
                notes[i] = "no int8 kernel: runs in f32"
            }
        }
        return Plan(int8: int8, annotation: annotation, notes: notes)
    }

    /// Quantises `graph` (an f32 model) with activation ranges calibrated on `batches` (each
    /// `[B] + the model's input shape`). `progress` is called after each calibration batch
    /// with (pass, batch index, pass count).
    public func quantize(_ graph: Graph, calibration batches: [Tensor],
                         progress: (Int, Int, Int) -> Void = { _, _, _ in }) throws -> (graph: Graph, report: QuantizationReport) {
        guard settings.weightBits == 8 || settings.weightBits == 7 else {
            throw QuantizationError.invalidSetting("weight bits must be 8 or 7 (reduced range), got \(settings.weightBits)")
        }
        guard settings.histogramBins >= 256 else {
            throw QuantizationError.invalidSetting("the histogram needs at least 256 bins, got \(settings.histogramBins)")
        }
        if let node = graph.nodes.first(where: { $0.quantization != nil }) {
            throw QuantizationError.alreadyQuantized(node: node.name)
        }
        try graph.validate()
        let (folded, folds) = try BatchNormFolding.fold(graph)
        let plan = try self.plan(folded)
        let shapes = try folded.inferShapes()
        let inputs = folded.inputIndices
        guard inputs.count == 1 else {
            throw QuantizationError.calibrationData("calibration feeds one input; the model has \(inputs.count)")
        }
        guard !batches.isEmpty else { throw QuantizationError.calibrationData("no calibration batches") }
        let inputShape = shapes[inputs[0]]
        for (k, batch) in batches.enumerated() {
            guard batch.dtype == .f32, batch.shape.rank == inputShape.rank + 1,
                  Array(batch.shape.dimensions.dropFirst()) == inputShape.dimensions, batch.shape[0] > 0 else {
                throw QuantizationError.calibrationData(
                    "batch \(k + 1) has shape \(batch.shape) (\(batch.dtype.rawValue)) but the model takes [batch] + \(inputShape) f32")
            }
        }
        let observed = plan.observed
        var histograms = try calibrate(folded, observed: observed, batches: batches, progress: progress)

        // Scales: observed outputs from calibration, derived ones from their source.
        var bounds: [Int: Float] = [:]
        let quantizationOf = activationQuantizations(folded, plan: plan) { i, unsignedByPlan in
            let h = histograms[i]!
            let unsigned = unsignedByPlan || (i == inputs[0] && h.minimum >= 0)
            // The data itself is never clipped: the input keeps its whole observed range
            // (a normalised image's background is a spike that the histogram methods
            // mistake for the bulk; entropy clipped Fashion-MNIST's at 40% of its range).
            let method = i == inputs[0] ? CalibrationMethod.minMax : settings.method
            let bound = CalibrationThreshold.bound(of: h, method: method, unsigned: unsigned)
            bounds[i] = bound
            return .symmetric(bound: bound, unsigned: unsigned)
        }
        histograms.removeAll()
        var (result, layers) = annotate(folded, plan: plan, quantizationOf: quantizationOf)
        for k in layers.indices { layers[k].calibratedBound = bounds[k] }
        let samples = batches.reduce(0) { $0 + $1.shape[0] }
        let report = QuantizationReport(method: settings.method.description, weightBits: settings.weightBits,
                                        calibrationBatches: batches.count, calibrationSamples: samples,
                                        foldedBatchNorms: folds.map(\.batchNorm), layers: layers)
        result.metadata["quantization"] = "int8 post-training, \(settings.method), \(settings.weightBits)-bit per-channel weights, "
            + "\(batches.count) calibration batches (\(samples) samples), \(report.int8Layers) int8 layers"
        try result.validate()
        return (result, report)
    }

    /// Every node's output quantisation under `plan`: `observed(i, unsigned by the plan)` for
    /// the nodes with their own range, the source's scale (with the node's own type) for the
    /// pass-through ones, nil for the rest.
    func activationQuantizations(_ graph: Graph, plan: Plan,
                                 observed: (Int, Bool) throws -> ActivationQuantization) rethrows -> [ActivationQuantization?] {
        var quantizationOf = [ActivationQuantization?](repeating: nil, count: graph.nodes.count)
        for i in graph.nodes.indices {
            switch plan.annotation[i] {
            case .none: break
            case let .observed(unsigned):
                quantizationOf[i] = try observed(i, unsigned)
            case let .derived(source, unsigned):
                guard var q = quantizationOf[source] else { continue }
                q.dtype = unsigned ? .u8 : .i8
                quantizationOf[i] = q
            }
        }
        return quantizationOf
    }

    /// `graph` (batch norms folded) with every node annotated as `plan` and `quantizationOf`
    /// say and the int8 layers' weights quantised per output channel at the settings' bits
    /// (7-bit weights of an s8-input layer stored doubled, see
    /// ``WeightQuantization/quantize(_:doubled:)``); and what was done to each node.
    func annotate(_ graph: Graph, plan: Plan, quantizationOf: [ActivationQuantization?]) -> (graph: Graph, layers: [QuantizedLayer]) {
        var result = graph
        let weightQuantization = WeightQuantization(bits: settings.weightBits)
        var layers: [QuantizedLayer] = []
        for (i, node) in graph.nodes.enumerated() {
            var nodeQuantization = NodeQuantization(output: quantizationOf[i])
            if plan.int8[i] && isWeightedLayer(node.op) {
                nodeQuantization.weights = weightQuantization
                let name = node.parameterName("weight")
                let signedInput = quantizationOf[node.inputs[0]]?.dtype == .i8
                let (weights, scales) = weightQuantization.quantize(graph.parameters[name]!,
                                                                    doubled: signedInput && weightQuantization.bits == 7)
                result.parameters[name] = weights
                result.parameters[node.parameterName("weight_scale")] = scales
            }
            // Every int8 node is annotated (an add whose ReLU is fused has nothing else to say);
            // an f32 node only when an int8 consumer reads its output quantised.
            let annotated = plan.int8[i] || nodeQuantization.output != nil
            result.nodes[i].quantization = annotated ? nodeQuantization : nil
            layers.append(QuantizedLayer(
                name: node.name, kind: node.op.kind, precision: plan.int8[i] ? "int8" : "f32", note: plan.notes[i],
                outputDType: quantizationOf[i]?.dtype.rawValue, outputScale: quantizationOf[i]?.scale,
                calibratedBound: nil, observedMaximum: nil))
        }
        return (result, layers)
    }

    /// Runs the f32 graph on the batches and records, for every observed node, its extremes
    /// and (for the histogram methods, in a second pass) its histogram of magnitudes.
    func calibrate(_ graph: Graph, observed: [Int], batches: [Tensor],
                   progress: (Int, Int, Int) -> Void) throws -> [Int: ActivationHistogram] {
        var probe = graph
        probe.outputs = observed
        var executors: [Int: DNNLExecutor] = [:]
        func executor(for batch: Int) throws -> DNNLExecutor {
            if let e = executors[batch] { return e }
            let e = try DNNLExecutor(graph: probe, batchSize: batch, mode: .inference,
                                     configuration: ExecutorConfiguration(threads: settings.threads))
            executors[batch] = e
            return e
        }
        let passes = settings.method.needsHistogram ? 2 : 1
        var histograms: [Int: ActivationHistogram] = [:]
        for node in observed { histograms[node] = ActivationHistogram(bound: 0, binCount: 1) }
        for (k, batch) in batches.enumerated() {
            let outputs = try executor(for: batch.shape[0]).forward([batch])
            for (node, output) in zip(observed, outputs) {
                let values = UnsafeBufferPointer(output.floats)
                histograms[node]!.addExtremes(values)
                if !histograms[node]!.magnitude.isFinite || histograms[node]!.minimum.isNaN
                    || values.contains(where: { !$0.isFinite }) {
                    throw QuantizationError.nonFinite(node: graph.nodes[node].name, batch: k)
                }
            }
            progress(1, k, passes)
        }
        guard passes == 2 else { return histograms }
        var second: [Int: ActivationHistogram] = [:]
        for node in observed {
            second[node] = ActivationHistogram(bound: histograms[node]!.magnitude, binCount: settings.histogramBins)
        }
        for (k, batch) in batches.enumerated() {
            let outputs = try executor(for: batch.shape[0]).forward([batch])
            for (node, output) in zip(observed, outputs) {
                second[node]!.add(UnsafeBufferPointer(output.floats))
            }
            progress(2, k, passes)
        }
        return second
    }
}

/// Convolutions and linear layers: the nodes whose weights int8 stores in 8 bits.
func isWeightedLayer(_ op: Op) -> Bool {
    switch op {
    case .conv2d, .linear: return true
    case .input, .batchNorm, .relu, .relu6, .hardSwish, .sigmoid, .maxPool, .avgPool, .globalAvgPool, .add, .concat,
         .channelShuffle, .channelSlice, .flatten, .dropout, .softmax, .leakyRelu, .prelu, .elu, .tanh, .silu, .hardSigmoid, .localResponseNorm, .pad, .mul, .unflatten:
        return false
    }
}
