import PareCore

/// Several rewrites applied in one fixed order, each to the previous one's result:
///
/// 1. `drop-block` (by name, then the automatic choice),
/// 2. `kernel` (k x k -> k' x k', the layer keeps its name),
/// 3. `dwpw`, 4. `tucker`, 5. `svd`, 6. `grouped`.
///
/// A layer is factored at most once: the factorisations (3-6) never take nodes an earlier
/// rewrite created (a `dwpw` pointwise conv is not split again by `svd`), but they do take a
/// layer `kernel` shrank. Every step uses the same selection.
public struct RewritePipeline {
    public var dropBlocks: [String] = []
    /// Remove this many blocks automatically (needs ``validation``).
    public var dropBlockCount: Int?
    public var validation: DropBlockRewrite.Validation?
    public var kernelSize: Int?
    public var depthwiseSeparable = false
    public var depthwiseBatchNorm = false
    public var tucker = false
    public var svd = false
    public var rank = RankChoice.standard
    public var groups: Int?
    public var selection = RewriteSelection()
    public var measurement = RewriteMeasurement()

    public init() {}

    /// The rewrites this pipeline runs, in order (`drop-block`, `kernel`, `dwpw`, ...).
    public var steps: [String] {
        var result: [String] = []
        if !dropBlocks.isEmpty || dropBlockCount != nil { result.append(DropBlockRewrite.kind) }
        if kernelSize != nil { result.append(KernelRewrite.kind) }
        if depthwiseSeparable { result.append(DepthwiseSeparableRewrite.kind) }
        if tucker { result.append(TuckerRewrite.kind) }
        if svd { result.append(LowRankRewrite.kind) }
        if groups != nil { result.append(GroupedRewrite.kind) }
        return result
    }

    public func apply(to graph: Graph) throws -> RewriteResult {
        guard !steps.isEmpty else { throw RewriteError.invalidSettings("no rewrite asked for") }
        var current = RewriteResult(graph: graph, records: [], skipped: [])
        var created = Set<String>()
        func run(_ step: (Graph) throws -> RewriteResult) throws {
            let result = try step(current.graph)
            current.graph = result.graph
            current.records += result.records
            current.skipped += result.skipped
            for record in result.records where record.replacement != [record.node] { created.formUnion(record.replacement) }
        }
        if !dropBlocks.isEmpty { try run { try DropBlockRewrite.apply($0, named: dropBlocks, measurement: measurement) } }
        if let dropBlockCount {
            guard let validation else { throw RewriteError.invalidSettings("drop-block: choosing blocks automatically needs validation data") }
            try run { try DropBlockRewrite.apply($0, count: dropBlockCount, validation: validation, selection: selection, measurement: measurement) }
        }
        if let kernelSize { try run { try KernelRewrite.apply($0, kernelSize: kernelSize, selection: selection, measurement: measurement) } }
        if depthwiseSeparable {
            try run { try DepthwiseSeparableRewrite.apply($0, withBatchNorm: depthwiseBatchNorm, selection: selection,
                                                          excluded: created, measurement: measurement) }
        }
        if tucker { try run { try TuckerRewrite.apply($0, rank: rank, selection: selection, excluded: created, measurement: measurement) } }
        if svd { try run { try LowRankRewrite.apply($0, rank: rank, selection: selection, excluded: created, measurement: measurement) } }
        if let groups {
            try run { try GroupedRewrite.apply($0, groups: groups, selection: selection, excluded: created, measurement: measurement) }
        }
        var metadata = current.graph.metadata
        metadata["rewrites"] = steps.joined(separator: ",")
        current.graph.metadata = metadata
        return current
    }
}
