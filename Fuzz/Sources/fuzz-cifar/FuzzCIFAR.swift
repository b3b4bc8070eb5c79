import FuzzSupport
import PareData

/// A CIFAR binary batch, read as CIFAR-10 (one label byte) and as CIFAR-100 (two).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzCIFAR(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let path = FuzzFile.write(start, count, suffix: ".bin").path
    if let data = try? CIFAR.read([path], labelBytes: 1, labelIndex: 0, classes: 10, classNames: CIFAR.cifar10ClassNames) {
        precondition(data.count == count / (1 + CIFAR.imageBytes))
    }
    if let data = try? CIFAR.read([path], labelBytes: 2, labelIndex: 1, classes: 100, classNames: nil) {
        precondition(data.count == count / (2 + CIFAR.imageBytes))
    }
    return 0
}
