import Foundation
import FuzzSupport
import PareCore
import PareIO

/// The architecture JSON of a Pare model file (`pare.graph`): decoded, shape-inferred and
/// checked against its parameters, first with none (the mismatch report), then, when the
/// graph is valid and small, with zero tensors of the shapes it asks for (the success path).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzArchitecture(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let json = String(decoding: UnsafeRawBufferPointer(start: start, count: count), as: UTF8.self)
    let metadata = [ModelFile.formatKey: ModelFile.formatVersion, ModelFile.graphKey: json]
    guard (try? ModelFile.decode(SafetensorsFile(metadata: metadata), source: "fuzz-input")) == nil else { return 0 }
    struct Architecture: Decodable { var nodes: [Node]; var outputs: [Int] }
    guard let architecture = try? JSONDecoder().decode(Architecture.self, from: Data(json.utf8)),
          let specs = try? Graph(nodes: architecture.nodes, outputs: architecture.outputs).parameterSpecs() else { return 0 }
    // The harness's own bound, not the parser's: at most a million parameters.
    var total = 0
    for (_, _, spec) in specs {
        let (sum, overflow) = total.addingReportingOverflow(spec.shape.elementCount)
        guard !overflow, sum <= 1 << 20 else { return 0 }
        total = sum
    }
    var tensors: [String: Tensor] = [:]
    for (name, _, spec) in specs { tensors[name] = Tensor(zeros: spec.shape, dtype: spec.dtype) }
    if let graph = try? ModelFile.decode(SafetensorsFile(tensors: tensors, metadata: metadata), source: "fuzz-input") {
        _ = try? ModelFile.encode(graph)
    }
    return 0
}
