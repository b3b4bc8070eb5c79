import FuzzSupport
import PareCore
import PareIO

/// A `.safetensors` file: the header, offsets and tensors, then, when it is a Pare model
/// file, its architecture and parameters.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSafetensors(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    guard let file = try? SafetensorsFile.decode(fuzzData(start, count), source: "fuzz-input") else { return 0 }
    for tensor in file.tensors.values { precondition(tensor.byteCount == tensor.shape.elementCount * tensor.dtype.byteSize) }
    if let graph = try? ModelFile.decode(file, source: "fuzz-input") {
        _ = try? graph.inferShapes()
    }
    return 0
}
