import PareCore
import XCTest

/// Asserts `actual` matches `expected` element by element within `atol + rtol * |expected|`:
/// first the count, then the values, naming the worst element on failure.
func assertClose(_ actual: [Float], _ expected: [Float], atol: Float, rtol: Float, _ label: String,
                 file: StaticString = #filePath, line: UInt = #line) {
    guard actual.count == expected.count else {
        XCTFail("\(label): \(actual.count) values, expected \(expected.count)", file: file, line: line)
        return
    }
    var worst: (index: Int, excess: Float)?
    for (index, (a, e)) in zip(actual, expected).enumerated() {
        let excess = abs(a - e) - (atol + rtol * abs(e))
        let score = excess.isNaN ? Float.infinity : excess  // a NaN on either side fails
        if score > 0, score > worst?.excess ?? 0 { worst = (index, score) }
    }
    if let worst {
        XCTFail("\(label): element \(worst.index) is \(actual[worst.index]), expected \(expected[worst.index]) "
                + "(atol \(atol), rtol \(rtol))", file: file, line: line)
    }
}

/// An f32 tensor of `values`, shaped `[values.count]` unless `shape` is given.
func tensor(_ values: [Float], shape: Shape? = nil) -> Tensor {
    try! Tensor(shape: shape ?? Shape([values.count]), values: values)
}

/// The same values in a new, independent tensor of every entry.
func copies(_ tensors: [String: Tensor]) -> [String: Tensor] { tensors.mapValues { $0.copy() } }
