import FuzzSupport
import PareData

/// An IDX file as read from disk, gzipped (the seeds) or not: the header is inflated and
/// checked before the rest.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzIDXGzip(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let path = FuzzFile.write(start, count, suffix: ".gz").path
    for magic in [IDXFile.imagesMagic, IDXFile.labelsMagic] {
        if let file = try? IDXFile.read(path, magic: magic) {
            precondition(file.elements.count == file.dimensions.reduce(1, *), "elements do not match the dimensions")
        }
    }
    return 0
}
