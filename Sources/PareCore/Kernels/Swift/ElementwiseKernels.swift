#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// mask[i] = 1/(1-p) if element i is kept, else 0; element i is kept iff the i-th uniform
/// draw is >= p, compared in Double (the rule of `referenceDropoutMask`, in logical element
/// order; a draw is made per element even when p is 0, so later masks do not shift).
func fillDropoutMask(_ mask: UnsafeMutablePointer<Float>, count: Int, probability p: Double,
                     generator: inout SeededGenerator) {
    let scale = Float(1 / (1 - p))
    for i in 0..<count { mask[i] = Double(generator.nextUniform()) >= p ? scale : 0 }
}

/// out[i] = a[i] * b[i].
func multiply(_ out: UnsafeMutablePointer<Float>, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, count: Int) {
    for i in 0..<count { out[i] = a[i] * b[i] }
}

/// output and input are (rows, columns); softmax over each row, max-subtracted.
func softmaxRowsForward(output: UnsafeMutablePointer<Float>, input: UnsafePointer<Float>, rows: Int, columns: Int) {
    for r in 0..<rows {
        let x = input + r * columns, y = output + r * columns
        var maximum = -Float.infinity
        for j in 0..<columns { maximum = max(maximum, x[j]) }
        var sum: Float = 0
        for j in 0..<columns { y[j] = expf(x[j] - maximum); sum += y[j] }
        let inverse = 1 / sum
        for j in 0..<columns { y[j] *= inverse }
    }
}

/// dInput = y * (dOutput - sum(dOutput * y)) per row (overwritten).
func softmaxRowsBackward(dInput: UnsafeMutablePointer<Float>, dOutput: UnsafePointer<Float>,
                         output: UnsafePointer<Float>, rows: Int, columns: Int) {
    for r in 0..<rows {
        let y = output + r * columns, dy = dOutput + r * columns, dx = dInput + r * columns
        var dot: Float = 0
        for j in 0..<columns { dot += dy[j] * y[j] }
        for j in 0..<columns { dx[j] = y[j] * (dy[j] - dot) }
    }
}

/// out[i] = relu6(x[i] + 3) / 6 (hard sigmoid).
func hardSigmoidForward(_ out: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, count: Int) {
    for i in 0..<count { out[i] = min(max(x[i] + 3, 0), 6) * (1 / 6) }
}

/// dx[i] = dy[i] / 6 where -3 < x[i] < 3, else 0 (overwritten).
func hardSigmoidBackward(_ dx: UnsafeMutablePointer<Float>, _ dy: UnsafePointer<Float>, _ x: UnsafePointer<Float>, count: Int) {
    for i in 0..<count { dx[i] = x[i] > -3 && x[i] < 3 ? dy[i] * (1 / 6) : 0 }
}
