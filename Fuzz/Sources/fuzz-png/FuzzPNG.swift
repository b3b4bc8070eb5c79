import FuzzSupport
import PareData

/// A PNG file as an image folder reads it (the decoder picks the format by content).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzPNG(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let path = FuzzFile.write(start, count, suffix: ".png").path
    if let image = try? ImageDecoder.decode(file: path) {
        precondition(image.pixels.count == image.width * image.height * 3)
    }
    return 0
}
