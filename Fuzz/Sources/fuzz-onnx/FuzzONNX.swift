import FuzzSupport
import PareCore
import PareIO

/// An ONNX model: protobuf decoding, then translation into a Graph (constant folding,
/// pattern matching, shape inference).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzONNX(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    if let graph = try? ONNXImport.graph(from: fuzzData(start, count), source: "fuzz-input") {
        _ = try? graph.inferShapes()
    }
    return 0
}
