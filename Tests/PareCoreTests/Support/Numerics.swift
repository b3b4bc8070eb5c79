import PareCore
import XCTest

/// Why `actual` is not close to `expected`, or nil when it is. Counts are compared first; then
/// every element must satisfy `|actual - expected| <= atol + rtol * |expected|` (a NaN never
/// does). The message names the worst element (largest error beyond its tolerance): its
/// index, both values and the absolute error, and how many elements are out of tolerance.
func closenessFailure<T: BinaryFloatingPoint>(_ actual: [T], _ expected: [T], atol: Double, rtol: Double) -> String? {
    guard actual.count == expected.count else {
        return "count mismatch: actual has \(actual.count) elements, expected \(expected.count)"
    }
    var worst: (index: Int, excess: Double)?
    var failures = 0
    for i in actual.indices {
        let a = Double(actual[i]), e = Double(expected[i])
        if a == e { continue }  // also equal infinities
        let error = abs(a - e)
        let excess = error.isNaN ? .infinity : error - (atol + rtol * abs(e))
        guard excess > 0 else { continue }
        failures += 1
        if worst == nil || excess > worst!.excess { worst = (i, excess) }
    }
    guard let worst else { return nil }
    let a = Double(actual[worst.index]), e = Double(expected[worst.index])
    return "\(failures) of \(actual.count) elements out of tolerance (atol \(atol), rtol \(rtol)); worst at index "
        + "\(worst.index): actual \(a), expected \(e), abs error \(abs(a - e))"
}

/// Asserts `actual` is close to `expected` element by element (see ``closenessFailure``).
func assertClose<T: BinaryFloatingPoint>(_ actual: [T], _ expected: [T], atol: Double, rtol: Double, _ label: String,
                                         file: StaticString = #filePath, line: UInt = #line) {
    if let failure = closenessFailure(actual, expected, atol: atol, rtol: rtol) {
        XCTFail("\(label): \(failure)", file: file, line: line)
    }
}

/// Asserts two f32 tensors have the same shape, then close values.
func assertClose(_ actual: Tensor, _ expected: Tensor, atol: Double, rtol: Double, _ label: String,
                 file: StaticString = #filePath, line: UInt = #line) {
    guard actual.shape == expected.shape else {
        XCTFail("\(label): shape mismatch: actual \(actual.shape), expected \(expected.shape)", file: file, line: line)
        return
    }
    assertClose(actual.scalars, expected.scalars, atol: atol, rtol: rtol, label, file: file, line: line)
}

/// `count` uniform values in `range`, with full Double resolution (so ties are practically impossible).
func randomArray(_ count: Int, _ generator: inout SeededGenerator, in range: ClosedRange<Double> = -1...1) -> [Double] {
    (0..<count).map { _ in
        range.lowerBound + (range.upperBound - range.lowerBound) * Double(generator.next() >> 11) / Double(1 << 53)
    }
}
