import FuzzSupport
import PareData

/// IDX bytes (MNIST's format, uncompressed) as an image file and as a label file.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzIDX(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let bytes = Array(UnsafeRawBufferPointer(start: start, count: count))
    for magic in [IDXFile.imagesMagic, IDXFile.labelsMagic] {
        if let file = try? IDXFile.decode(bytes, magic: magic, source: "fuzz-input") {
            precondition(file.elements.count == file.dimensions.reduce(1, *), "elements do not match the dimensions")
        }
    }
    return 0
}
