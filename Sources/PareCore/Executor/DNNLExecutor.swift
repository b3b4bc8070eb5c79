import CDNNL

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The fast CPU executor: convolution, batch norm, pooling, eltwise, binary and inner product
/// run on oneDNN; channel concatenation, shuffle, flatten, dropout and softmax are plain
/// Swift over contiguous buffers.
///
/// Everything is planned once, when the executor is created for a graph, a batch size and a
/// mode: primitives and their memory descriptors, the layout of every activation (oneDNN's
/// blocked layouts stay between oneDNN ops; reorders appear only where a consumer needs
/// another layout), and one arena in which activation, gradient and temporary buffers are
/// placed by lifetime, so buffers not needed later in the step share memory. A steady-state
/// forward or backward pass allocates nothing.
public final class DNNLExecutor: GraphExecutor {
    public let graph: Graph
    public let batchSize: Int
    public let mode: ExecutionMode
    public let configuration: ExecutorConfiguration
    public internal(set) var parameterGradients: [String: Tensor] = [:]
    public private(set) var inputGradients: [Tensor] = []

    /// Bytes of the activation/gradient arena and of the shared oneDNN scratchpad.
    public private(set) var arenaBytes = 0
    public private(set) var scratchpadBytes = 0

    // MARK: Planning state

    let engine: DNNLEngine
    let shapes: [Shape]          // per-sample shapes
    let n: Int                   // node count
    var buffers: [BufferRecord] = []
    var forwardSteps: [Step] = []
    var backwardSteps: [Step] = []
    /// Run once after planning and by reloadParameters(): weight reorders in inference mode.
    var preparationSteps: [Step] = []
    var primitives: [DNNLPrimitive] = []
    var externalMemories: [dnnl_memory_t] = []
    var implementationNotes: [String] = []
    /// Convolution fusions of an inference executor (nil in training or when switched off).
    let fusion: InferenceFusion?

    /// Per node: the buffer and layout of its output.
    var valueBuffer: [Int] = []
    var valueMD: [dnnl_memory_desc_t] = []
    /// Per node and input slot: the buffer (possibly a reordered copy) the node read.
    var inputBuffers: [[Int]] = []
    var inputMDs: [[dnnl_memory_desc_t]] = []
    /// Per node: buffers its backward needs (weights in primitive layout, stats, masks).
    var saved: [[String: Int]] = []
    var forwardPrimitive: [DNNLPrimitive?] = []
    /// Convolutions some of whose training passes run on ``WinogradConvolution`` instead of
    /// oneDNN's primitives.
    var winograd: [Int: WinogradPlan] = [:]
    /// Max poolings that run on ``BlockedMaxPooling`` instead of a oneDNN primitive.
    var maxPooling: [Int: BlockedMaxPooling] = [:]
    var gradientBuffer: [Int?] = []
    /// Per node: the quantisation of its output buffer when that buffer holds 8-bit values
    /// (an int8 model's activations); nil for f32 buffers.
    var storedQuantization: [ActivationQuantization?] = []
    /// Activation node → the int8 convolution, linear layer or add whose primitive computes it.
    var int8Alias: [Int: Int] = [:]
    /// Quantisation-aware training (``FakeQuantization``): the ranges, the fake-quantised
    /// weight copies the primitives read (by parameter name) and, per node, the buffer of its
    /// output's straight-through mask.
    let fakeQuantization: FakeQuantization?
    var fakeQuantizedWeights: [String: Tensor] = [:]
    var fakeQuantizationMasks: [Int: Int] = [:]

    /// Which values need a gradient, and which nodes take part in backward.
    var requiresGradient: [Bool] = []
    var backwardActive: [Bool] = []
    var firstContributor: [(node: Int, slot: Int)?] = []

    var inputStaging: [Int] = []
    var outputBuffers: [Int] = []
    var outputTensors: [Tensor] = []
    var seedStaging: [Int] = []

    // MARK: Run-time state

    var arena: TensorStorage?
    var scratchpad: TensorStorage?
    var scratchpadMemory: dnnl_memory_t?
    var resolvedForward: [ResolvedStep] = []
    var resolvedBackward: [ResolvedStep] = []
    var resolvedPreparation: [ResolvedStep] = []
    var forwardLabels: [String] = []
    var backwardLabels: [String] = []
    var forwardSeconds: [Double] = []
    var backwardSeconds: [Double] = []
    var dropoutGenerator: SeededGenerator
    var hasForwardRun = false

    struct BufferRecord {
        var md: dnnl_memory_desc_t
        var bytes: Int
        var firstStep: Int
        var lastStep: Int
        var offset = 0
        var memory: dnnl_memory_t?
    }

    enum Argument {
        case buffer(Int)
        case external(dnnl_memory_t)
    }

    enum Step {
        case primitive(DNNLPrimitive, [(Int32, Argument)])
        case swift(String, (DNNLExecutor) -> Void)

        var label: String {
            switch self {
            case let .primitive(p, _): return p.name
            case let .swift(label, _): return label
            }
        }
    }

    enum ResolvedStep {
        case primitive(dnnl_primitive_t, [dnnl_exec_arg_t])
        case swift((DNNLExecutor) -> Void)
    }

    /// Plans `graph` for `batchSize` samples in `mode`. Throws naming the node when the graph
    /// is invalid or oneDNN cannot run one of its ops.
    ///
    /// With `fakeQuantization` (an f32 graph, batch norms folded) the executor computes in f32
    /// what the int8 model will (quantisation-aware training, see
    /// `DNNLExecutor+FakeQuantization.swift`); inference then does not fuse.
    public init(graph: Graph, batchSize: Int, mode: ExecutionMode,
                configuration: ExecutorConfiguration = ExecutorConfiguration(),
                fakeQuantization: FakeQuantization? = nil) throws {
        guard batchSize > 0 else { throw GraphError.invalidGraph("batch size must be positive, got \(batchSize)") }
        try graph.validate()
        if mode == .training, let quantized = graph.nodes.first(where: { $0.quantization != nil }) {
            throw ExecutionError.backend(node: quantized.name,
                                         message: "this is a quantised (int8) model, which runs in inference only; train the f32 model it came from")
        }
        self.graph = graph
        self.batchSize = batchSize
        self.mode = mode
        self.configuration = configuration
        self.engine = try DNNLEngine()
        self.shapes = try graph.inferShapes()
        self.n = graph.nodes.count
        self.dropoutGenerator = SeededGenerator(seed: configuration.seed)
        if let fakeQuantization {
            if let quantized = graph.nodes.first(where: { $0.quantization != nil }) {
                throw ExecutionError.backend(node: quantized.name, message: "fake quantisation runs an f32 model; this one is int8 already")
            }
            try fakeQuantization.validate(for: graph)
        }
        self.fakeQuantization = fakeQuantization
        self.fusion = mode == .inference && configuration.fuseInference && fakeQuantization == nil ? InferenceFusion(graph: graph, shapes: shapes) : nil
        DNNLEngine.setThreads(configuration.threads)

        valueBuffer = [Int](repeating: -1, count: n)
        valueMD = [dnnl_memory_desc_t](repeating: dnnl_memory_desc_t(), count: n)
        inputBuffers = graph.nodes.map { [Int](repeating: -1, count: $0.inputs.count) }
        inputMDs = graph.nodes.map { [dnnl_memory_desc_t](repeating: dnnl_memory_desc_t(), count: $0.inputs.count) }
        saved = [[String: Int]](repeating: [:], count: n)
        forwardPrimitive = [DNNLPrimitive?](repeating: nil, count: n)
        gradientBuffer = [Int?](repeating: nil, count: n)
        storedQuantization = [ActivationQuantization?](repeating: nil, count: n)
        analyseGradientFlow()
        if let fakeQuantization { planFakeQuantizedWeights(fakeQuantization) }

        for index in 0..<n {
            do {
                try compileForward(index)
                if let fakeQuantization { try compileFakeQuantizedOutput(index, fakeQuantization) }
            } catch let error as DNNLError {
                let node = graph.nodes[index]
                throw ExecutionError.backend(node: node.name, message: "\(node.op.kind): \(error)")
            }
        }
        try compileOutputs()
        if mode == .training {
            try compileSeeds()
            for index in stride(from: n - 1, through: 0, by: -1) where backwardActive[index] {
                do {
                    compileFakeQuantizedGradient(index)
                    try compileBackward(index)
                } catch let error as DNNLError {
                    let node = graph.nodes[index]
                    throw ExecutionError.backend(node: node.name, message: "\(node.op.kind) backward: \(error)")
                }
            }
            compileInputGradients()
        }
        try materialize()
        try reloadParameters()
    }

    /// Re-reads the graph's weights into the layouts the primitives use. Training executors
    /// do this every step; an inference executor does it when created and when this is called
    /// (after the parameters were changed in place).
    public func reloadParameters() throws {
        var unused = [Double](repeating: 0, count: resolvedPreparation.count)
        try run(resolvedPreparation, seconds: &unused)
    }

    deinit {
        for buffer in buffers { if let m = buffer.memory { dnnl_memory_destroy(m) } }
        for m in externalMemories { dnnl_memory_destroy(m) }
        if let scratchpadMemory { dnnl_memory_destroy(scratchpadMemory) }
    }

    // MARK: Timeline

    /// Step index of node `i`'s forward pass.
    func forwardTime(_ i: Int) -> Int { i }
    /// Step index of node `i`'s backward pass (the seeds are written at `n`).
    func backwardTime(_ i: Int) -> Int { 2 * n - 1 - i }
    /// After the last step: buffers handed to the caller live until here.
    var endTime: Int { mode == .training ? 2 * n : n }

    // MARK: Building blocks

    func newBuffer(_ md: dnnl_memory_desc_t, at time: Int) -> Int {
        buffers.append(BufferRecord(md: md, bytes: MemoryDescriptor.byteSize(md), firstStep: time, lastStep: time))
        return buffers.count - 1
    }

    func touch(_ id: Int, _ time: Int) {
        buffers[id].firstStep = min(buffers[id].firstStep, time)
        buffers[id].lastStep = max(buffers[id].lastStep, time)
    }

    func addPrimitive(_ primitive: DNNLPrimitive, _ args: [(Int32, Argument)], at time: Int) {
        for (_, argument) in args { if case let .buffer(id) = argument { touch(id, time) } }
        scratchpadBytes = max(scratchpadBytes, primitive.scratchpadBytes)
        let step = Step.primitive(primitive, args)
        if time < n { forwardSteps.append(step) } else { backwardSteps.append(step) }
    }

    /// A primitive run when the executor is made and on ``reloadParameters()`` (a weight
    /// reorder): its scratchpad counts like every step's (an int8 weight reorder that computes
    /// compensation needs one).
    func addPreparation(_ primitive: DNNLPrimitive, _ args: [(Int32, Argument)]) {
        scratchpadBytes = max(scratchpadBytes, primitive.scratchpadBytes)
        preparationSteps.append(.primitive(primitive, args))
    }

    func addSwift(at time: Int, touching ids: [Int], label: String = "", _ body: @escaping (DNNLExecutor) -> Void) {
        for id in ids { touch(id, time) }
        let name = label.isEmpty ? "\(graph.nodes[min(time < n ? time : 2 * n - 1 - time, n - 1)].name) swift" : label
        if time < n { forwardSteps.append(.swift(name, body)) } else { backwardSteps.append(.swift(name, body)) }
    }

    /// A oneDNN memory over a tensor the executor does not own (a parameter or gradient).
    func external(_ tensor: Tensor, shape: [Int]? = nil) throws -> Argument {
        var md = try MemoryDescriptor.plain(shape ?? tensor.shape.dimensions, dtype: MemoryDescriptor.dataType(tensor.dtype))
        var memory: dnnl_memory_t?
        try dnnlCheck(dnnl_memory_create(&memory, &md, engine.engine, tensor.storage.pointer), "wrap tensor memory")
        externalMemories.append(memory!)
        return .external(memory!)
    }

    func primitive<Desc>(_ desc: inout Desc, hint: DNNLPrimitive? = nil, attributes: DNNLAttributes? = nil,
                         name: String) throws -> DNNLPrimitive {
        let p = try makePrimitive(&desc, engine: engine, attributes: try attributes ?? DNNLAttributes(), hint: hint, name: name)
        primitives.append(p)
        return p
    }

    func reorder(from src: dnnl_memory_desc_t, to dst: dnnl_memory_desc_t, accumulate: Bool = false,
                 from source: ActivationQuantization? = nil, to target: ActivationQuantization? = nil,
                 name: String) throws -> DNNLPrimitive {
        // Between 8-bit and f32 (or two 8-bit scales): real = scale · (q − zero point).
        let scale: Float? = source == nil && target == nil ? nil : (source?.scale ?? 1) / (target?.scale ?? 1)
        let p = try makeReorder(from: src, to: dst, accumulate: accumulate, scale: scale,
                                sourceZeroPoint: source?.zeroPoint ?? 0, destinationZeroPoint: target?.zeroPoint ?? 0,
                                engine: engine, name: name)
        primitives.append(p)
        return p
    }

    /// Full (batched) shape of node `i`'s output.
    func fullShape(_ i: Int) -> [Int] { [batchSize] + shapes[i].dimensions }

    func plainMD(_ i: Int) throws -> dnnl_memory_desc_t { try MemoryDescriptor.plain(fullShape(i)) }

    /// Node `i`'s output layout as f32 elements: an f32 consumer of an 8-bit output reads it
    /// dequantised in the same layout.
    func floatLayout(_ i: Int) -> dnnl_memory_desc_t {
        storedQuantization[i] == nil ? valueMD[i] : MemoryDescriptor.withDataType(valueMD[i], dnnl_f32)
    }

    func floatPointer(_ id: Int) -> UnsafeMutablePointer<Float> {
        (arena!.pointer + buffers[id].offset).assumingMemoryBound(to: Float.self)
    }

    func bytePointer(_ id: Int) -> UnsafeMutablePointer<UInt8> {
        (arena!.pointer + buffers[id].offset).assumingMemoryBound(to: UInt8.self)
    }

    func floatCount(_ id: Int) -> Int { buffers[id].bytes / 4 }

    // MARK: Gradient flow

    func analyseGradientFlow() {
        let nodes = graph.nodes
        var reachesOutput = [Bool](repeating: false, count: n)
        for o in graph.outputs { reachesOutput[o] = true }
        for i in stride(from: n - 1, through: 0, by: -1) where reachesOutput[i] {
            for s in nodes[i].inputs { reachesOutput[s] = true }
        }
        requiresGradient = [Bool](repeating: false, count: n)
        for i in 0..<n {
            if case .input = nodes[i].op {
                requiresGradient[i] = configuration.computeInputGradients
            } else {
                let ownsTrainable = nodes[i].parameterSpecs(inputs: nodes[i].inputs.map { shapes[$0] })
                    .contains { $0.role.isTrainable }
                requiresGradient[i] = ownsTrainable || nodes[i].inputs.contains { requiresGradient[$0] }
            }
        }
        backwardActive = (0..<n).map { i in
            if case .input = nodes[i].op { return false }
            return reachesOutput[i] && requiresGradient[i]
        }
        firstContributor = [(node: Int, slot: Int)?](repeating: nil, count: n)
        let outputs = Set(graph.outputs)
        for c in stride(from: n - 1, through: 0, by: -1) where backwardActive[c] {
            for (k, s) in nodes[c].inputs.enumerated() where requiresGradient[s] {
                if firstContributor[s] == nil && !outputs.contains(s) { firstContributor[s] = (c, k) }
            }
        }
    }

    // MARK: Forward helpers

    /// The buffer holding input `slot` of node `i` in layout `md`, reordering when the
    /// producer's layout differs. `quantization` is how the values are wanted when `md` is an
    /// 8-bit layout; the reorder then quantises an f32 producer's output, or requantises an
    /// 8-bit one stored at another scale (and an f32 `md` dequantises an 8-bit producer).
    func input(_ i: Int, _ slot: Int, as md: dnnl_memory_desc_t, quantization: ActivationQuantization? = nil) throws -> Int {
        let s = graph.nodes[i].inputs[slot]
        let t = forwardTime(i)
        inputMDs[i][slot] = md
        let stored = storedQuantization[s]
        if MemoryDescriptor.equal(md, valueMD[s]) && stored == quantization {
            touch(valueBuffer[s], t)
            inputBuffers[i][slot] = valueBuffer[s]
            return valueBuffer[s]
        }
        let converted = newBuffer(md, at: t)
        let r = try reorder(from: valueMD[s], to: md, from: stored, to: quantization, name: "\(graph.nodes[i].name) input \(slot)")
        addPrimitive(r, [(DNNL_ARG_FROM, .buffer(valueBuffer[s])), (DNNL_ARG_TO, .buffer(converted))], at: t)
        implementationNotes.append("reorder into \(graph.nodes[i].name)[\(slot)]: \(MemoryDescriptor.describe(valueMD[s])) -> \(MemoryDescriptor.describe(md))")
        inputBuffers[i][slot] = converted
        return converted
    }

    /// Creates node `i`'s output buffer in layout `md`.
    @discardableResult
    func output(_ i: Int, _ md: dnnl_memory_desc_t) -> Int {
        valueMD[i] = md
        valueBuffer[i] = newBuffer(md, at: forwardTime(i))
        return valueBuffer[i]
    }

    // MARK: Backward helpers

    /// Where node `i`'s backward writes the gradient of input `slot`, in layout `md`
    /// (overwriting). Call ``finishGradient`` after the step that writes it.
    func gradientTarget(_ i: Int, _ slot: Int, _ md: dnnl_memory_desc_t) -> Int {
        let s = graph.nodes[i].inputs[slot]
        let t = backwardTime(i)
        let isFirst = firstContributor[s].map { $0.node == i && $0.slot == slot } ?? false
        if isFirst && MemoryDescriptor.equal(md, valueMD[s]) {
            let g = newBuffer(valueMD[s], at: t)
            gradientBuffer[s] = g
            return g
        }
        return newBuffer(md, at: t)
    }

    /// Accumulates (or moves) a gradient written by ``gradientTarget`` into the producer's
    /// gradient buffer.
    func finishGradient(_ i: Int, _ slot: Int, target: Int) throws {
        let s = graph.nodes[i].inputs[slot]
        let t = backwardTime(i)
        if gradientBuffer[s] == target { return }
        let isFirst = firstContributor[s].map { $0.node == i && $0.slot == slot } ?? false
        let md = buffers[target].md
        if isFirst {
            gradientBuffer[s] = newBuffer(valueMD[s], at: t)
        }
        let g = gradientBuffer[s]!
        if MemoryDescriptor.equal(md, valueMD[s]) {
            addSwift(at: t, touching: [target, g]) { ex in
                addInPlace(ex.floatPointer(g), ex.floatPointer(target), count: ex.floatCount(g))
            }
        } else {
            let r = try reorder(from: md, to: valueMD[s], accumulate: !isFirst, name: "\(graph.nodes[i].name) gradient \(slot)")
            addPrimitive(r, [(DNNL_ARG_FROM, .buffer(target)), (DNNL_ARG_TO, .buffer(g))], at: t)
        }
    }

    /// The gradient of node `i`'s output, touched at its backward step.
    func outputGradient(_ i: Int) -> Int {
        guard let g = gradientBuffer[i] else {
            preconditionFailure("no gradient reached node '\(graph.nodes[i].name)'")
        }
        touch(g, backwardTime(i))
        return g
    }

    // MARK: Outputs, seeds, input gradients

    func compileOutputs() throws {
        for o in graph.outputs {
            let plain = try plainMD(o)
            if MemoryDescriptor.equal(plain, valueMD[o]) && storedQuantization[o] == nil {
                touch(valueBuffer[o], endTime)
                outputBuffers.append(valueBuffer[o])
            } else {
                let b = newBuffer(plain, at: forwardTime(n - 1))
                let r = try reorder(from: valueMD[o], to: plain, from: storedQuantization[o], name: "output \(graph.nodes[o].name)")
                addPrimitive(r, [(DNNL_ARG_FROM, .buffer(valueBuffer[o])), (DNNL_ARG_TO, .buffer(b))], at: forwardTime(n - 1))
                touch(b, endTime)
                outputBuffers.append(b)
            }
        }
    }

    func compileSeeds() throws {
        let t = n  // == backwardTime(n - 1)
        for o in graph.outputs {
            if gradientBuffer[o] != nil {
                throw GraphError.invalidGraph("node '\(graph.nodes[o].name)' is listed twice as an output")
            }
            let staging = newBuffer(try plainMD(o), at: t)
            seedStaging.append(staging)
            if MemoryDescriptor.equal(buffers[staging].md, valueMD[o]) {
                gradientBuffer[o] = staging
            } else {
                let g = newBuffer(valueMD[o], at: t)
                let r = try reorder(from: buffers[staging].md, to: valueMD[o], name: "seed \(graph.nodes[o].name)")
                addPrimitive(r, [(DNNL_ARG_FROM, .buffer(staging)), (DNNL_ARG_TO, .buffer(g))], at: t)
                gradientBuffer[o] = g
            }
        }
    }

    func compileInputGradients() {
        guard configuration.computeInputGradients else { return }
        for i in graph.inputIndices {
            if let g = gradientBuffer[i] { touch(g, endTime) }
        }
    }

    // MARK: Materialisation

    func materialize() throws {
        let plan = MemoryPlanner.plan(buffers.map {
            MemoryPlanner.Request(bytes: $0.bytes, firstStep: $0.firstStep, lastStep: $0.lastStep)
        })
        arenaBytes = plan.arenaBytes
        let arena = TensorStorage(byteCount: plan.arenaBytes)
        self.arena = arena
        for id in buffers.indices {
            buffers[id].offset = plan.offsets[id]
            var md = buffers[id].md
            var memory: dnnl_memory_t?
            try dnnlCheck(dnnl_memory_create(&memory, &md, engine.engine, arena.pointer + plan.offsets[id]), "create memory")
            buffers[id].memory = memory
        }
        let scratch = TensorStorage(byteCount: max(scratchpadBytes, 64))
        scratchpad = scratch
        var scratchMD = try MemoryDescriptor.plain([max(scratchpadBytes, 64)], dtype: dnnl_u8)
        var scratchMemory: dnnl_memory_t?
        try dnnlCheck(dnnl_memory_create(&scratchMemory, &scratchMD, engine.engine, scratch.pointer), "create scratchpad")
        scratchpadMemory = scratchMemory

        resolvedForward = forwardSteps.map(resolve)
        resolvedBackward = backwardSteps.map(resolve)
        resolvedPreparation = preparationSteps.map(resolve)
        forwardLabels = forwardSteps.map(\.label)
        backwardLabels = backwardSteps.map(\.label)
        forwardSeconds = [Double](repeating: 0, count: forwardLabels.count)
        backwardSeconds = [Double](repeating: 0, count: backwardLabels.count)
        forwardSteps = []
        backwardSteps = []
        preparationSteps = []

        outputTensors = zip(graph.outputs, outputBuffers).map { o, b in
            Tensor(shape: Shape(fullShape(o)), dtype: .f32,
                   storage: TensorStorage(borrowing: arena.pointer + buffers[b].offset, byteCount: buffers[b].bytes, owner: arena))
        }
        if mode == .training && configuration.computeInputGradients {
            inputGradients = graph.inputIndices.map { i in
                if let g = gradientBuffer[i] {
                    return Tensor(shape: Shape(fullShape(i)), dtype: .f32,
                                  storage: TensorStorage(borrowing: arena.pointer + buffers[g].offset, byteCount: buffers[g].bytes, owner: arena))
                }
                return Tensor(zeros: Shape(fullShape(i)))
            }
        }
    }

    func resolve(_ step: Step) -> ResolvedStep {
        switch step {
        case let .primitive(p, args):
            var resolved = args.map { key, argument -> dnnl_exec_arg_t in
                switch argument {
                case let .buffer(id): return dnnl_exec_arg_t(arg: key, memory: buffers[id].memory)
                case let .external(memory): return dnnl_exec_arg_t(arg: key, memory: memory)
                }
            }
            if p.scratchpadBytes > 0 {
                resolved.append(dnnl_exec_arg_t(arg: DNNL_ARG_SCRATCHPAD, memory: scratchpadMemory))
            }
            return .primitive(p.primitive, resolved)
        case let .swift(_, body):
            return .swift(body)
        }
    }

    // MARK: Running

    public func forward(_ inputs: [Tensor]) throws -> [Tensor] {
        let inputNodes = graph.inputIndices
        guard inputs.count == inputNodes.count else {
            throw ExecutionError.wrongInputCount(expected: inputNodes.count, got: inputs.count)
        }
        for (tensor, i) in zip(inputs, inputNodes) {
            let expected = Shape(fullShape(i))
            guard tensor.shape == expected, tensor.dtype == .f32 else {
                throw ExecutionError.wrongInputShape(input: graph.nodes[i].name, expected: expected, got: tensor.shape)
            }
        }
        DNNLEngine.setThreads(configuration.threads)
        for (tensor, i) in zip(inputs, inputNodes) {
            memcpy(floatPointer(valueBuffer[i]), tensor.storage.pointer, tensor.byteCount)
        }
        try run(resolvedForward, seconds: &forwardSeconds)
        hasForwardRun = true
        return outputTensors
    }

    public func backward(_ outputGradients: [Tensor]) throws {
        guard mode == .training, hasForwardRun else { throw ExecutionError.backwardWithoutTrainingForward }
        guard outputGradients.count == graph.outputs.count else {
            throw ExecutionError.wrongInputCount(expected: graph.outputs.count, got: outputGradients.count)
        }
        for (k, o) in graph.outputs.enumerated() {
            let expected = Shape(fullShape(o))
            guard outputGradients[k].shape == expected, outputGradients[k].dtype == .f32 else {
                throw ExecutionError.wrongInputShape(input: "gradient of \(graph.nodes[o].name)", expected: expected,
                                                     got: outputGradients[k].shape)
            }
        }
        DNNLEngine.setThreads(configuration.threads)
        for (k, staging) in seedStaging.enumerated() {
            memcpy(floatPointer(staging), outputGradients[k].storage.pointer, outputGradients[k].byteCount)
        }
        try run(resolvedBackward, seconds: &backwardSeconds)
    }

    func run(_ steps: [ResolvedStep], seconds: inout [Double]) throws {
        let profile = configuration.profile
        for (index, step) in steps.enumerated() {
            let start = profile ? monotonicSeconds() : 0
            switch step {
            case let .primitive(p, args):
                let status = args.withUnsafeBufferPointer {
                    dnnl_primitive_execute(p, engine.stream, Int32($0.count), $0.baseAddress)
                }
                if status != dnnl_success { throw DNNLError(status: status, operation: "execute a primitive") }
            case let .swift(body):
                body(self)
            }
            if profile {
                try dnnlCheck(dnnl_stream_wait(engine.stream), "wait for the stream")
                seconds[index] += monotonicSeconds() - start
            }
        }
        try dnnlCheck(dnnl_stream_wait(engine.stream), "wait for the stream")
    }

    /// Seconds spent in each step since the executor was created (with
    /// ``ExecutorConfiguration/profile`` on), labelled "<node> <what>", in execution order.
    public var stepProfile: (forward: [(label: String, seconds: Double)], backward: [(label: String, seconds: Double)]) {
        (Array(zip(forwardLabels, forwardSeconds)).map { ($0.0, $0.1) },
         Array(zip(backwardLabels, backwardSeconds)).map { ($0.0, $0.1) })
    }

    /// The distinct implementations chosen for the convolutions' forward passes, with counts
    /// (e.g. "jit:avx2 x12, jit_dw:avx2 x3", or "winograd F(4x4,3x3) x13" in training; a
    /// convolution whose forward is direct and some backward pass Winograd counts as direct
    /// and "winograd F(4x4,3x3) backward only").
    public var convolutionImplementations: String {
        var counts: [String: Int] = [:]
        for p in primitives where p.name.contains(" conv forward") { counts[p.implementation, default: 0] += 1 }
        let forwardOnWinograd = winograd.values.filter { $0.passes.contains(.forward) }.count
        if forwardOnWinograd > 0 { counts["winograd F(4x4,3x3)"] = forwardOnWinograd }
        if winograd.count > forwardOnWinograd { counts["winograd F(4x4,3x3) backward only"] = winograd.count - forwardOnWinograd }
        return counts.sorted { $0.key < $1.key }.map { "\($0.key) x\($0.value)" }.joined(separator: ", ")
    }

    /// One line per oneDNN primitive and reorder: what runs, and in which layouts.
    public var planDescription: String {
        var lines = primitives.map { "\($0.name): \($0.implementation)" }
        lines += implementationNotes
        lines.append("arena \(arenaBytes) bytes, scratchpad \(scratchpadBytes) bytes")
        return lines.joined(separator: "\n")
    }
}

/// Seconds on a monotonic clock.
func monotonicSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}

/// `destination += source`, elementwise.
@inline(__always)
func addInPlace(_ destination: UnsafeMutablePointer<Float>, _ source: UnsafePointer<Float>, count: Int) {
    for i in 0..<count { destination[i] += source[i] }
}
