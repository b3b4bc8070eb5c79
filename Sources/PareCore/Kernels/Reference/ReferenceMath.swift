#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `e^x`, evaluated in Double (the reference kernels are generic over the element type, and
/// the standard library has no generic exponential).
@inline(__always) func referenceExp<T: BinaryFloatingPoint>(_ x: T) -> T {
    T(exp(Double(x)))
}

/// `tanh(x)`, evaluated in Double.
@inline(__always) func referenceTanh<T: BinaryFloatingPoint>(_ x: T) -> T {
    T(tanh(Double(x)))
}

/// `x^y`, evaluated in Double.
@inline(__always) func referencePow<T: BinaryFloatingPoint>(_ x: T, _ y: T) -> T {
    T(pow(Double(x), Double(y)))
}
