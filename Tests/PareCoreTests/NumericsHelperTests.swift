import PareCore
import XCTest

/// The test helpers must be able to fail: a closeness check or gradient check that always
/// passes would make every test built on it worthless.
final class NumericsHelperTests: XCTestCase {
    func testClosenessReportsCountMismatchFirst() {
        let failure = closenessFailure([1.0, 2], [1.0, 2, 3], atol: 1, rtol: 1)
        XCTAssertEqual(failure, "count mismatch: actual has 2 elements, expected 3")
    }

    func testClosenessNamesTheWorstElement() {
        let failure = closenessFailure([1.0, 2.5, 3, 10], [1.0, 2, 3, 4], atol: 0.1, rtol: 0)
        XCTAssertNotNil(failure)
        XCTAssertTrue(failure!.hasPrefix("2 of 4 elements out of tolerance"), failure!)
        XCTAssertTrue(failure!.contains("index 3: actual 10.0, expected 4.0, abs error 6.0"), failure!)
    }

    func testClosenessToleranceIsAbsolutePlusRelative() {
        XCTAssertNil(closenessFailure([100.5], [100.0], atol: 0.1, rtol: 0.005))  // 0.5 <= 0.1 + 0.5
        XCTAssertNotNil(closenessFailure([100.7], [100.0], atol: 0.1, rtol: 0.005))
        XCTAssertNil(closenessFailure([Double.infinity], [.infinity], atol: 0, rtol: 0))
        XCTAssertNotNil(closenessFailure([Double.nan], [1], atol: 1e9, rtol: 1e9), "NaN is never close")
        XCTAssertNotNil(closenessFailure([1.0], [.nan], atol: 1e9, rtol: 1e9), "NaN is never close")
    }

    func testGradientCheckCatchesWrongBackward() {
        var generator = SeededGenerator(seed: 3)
        let input = randomArray(20, &generator)
        func forward(_ args: [[Double]]) -> [Double] {
            var output = [Double](repeating: 0, count: 20)
            referenceReluForward(output: &output, input: args[0])
            return output
        }
        // The real backward passes ...
        XCTAssertEqual(opGradientFailures(arguments: [input], names: ["input"], atol: 1e-6, rtol: 1e-6, forward: forward,
                                          backward: { args, dOutput, gradients in
                                              referenceReluBackward(dInput: &gradients[0], dOutput: dOutput, input: args[0])
                                          }), [])
        // ... one that forgets the mask fails ...
        let unmasked = opGradientFailures(arguments: [input], names: ["input"], atol: 1e-6, rtol: 1e-6, forward: forward,
                                          backward: { _, dOutput, gradients in
                                              for i in dOutput.indices { gradients[0][i] += dOutput[i] }
                                          })
        XCTAssertEqual(unmasked.count, 1)
        XCTAssertTrue(unmasked.first?.hasPrefix("dinput: ") ?? false, "\(unmasked)")
        // ... and so does one that overwrites instead of accumulating.
        let overwriting = opGradientFailures(arguments: [input], names: ["input"], atol: 1e-6, rtol: 1e-6, forward: forward,
                                             backward: { args, dOutput, gradients in
                                                 for i in dOutput.indices { gradients[0][i] = args[0][i] > 0 ? dOutput[i] : 0 }
                                             })
        XCTAssertEqual(overwriting.count, 1, "\(overwriting)")
    }

    func testGradientCheckRejectsVacuousChecks() {
        // A loss that does not depend on the argument cannot vouch for its gradient.
        let failures = opGradientFailures(arguments: [[1, 2, 3]], names: ["input"], atol: 1e-6, rtol: 1e-6,
                                          forward: { _ in [1, 2] }, backward: { _, _, _ in })
        XCTAssertEqual(failures, ["dinput: numerical gradient is zero everywhere, the check is vacuous"])
    }

    func testCentralDifferenceOfKnownFunction() {
        // d/dx of sum(x^3) is 3x^2.
        let x = [0.5, -1.0, 2.0]
        let gradient = centralDifferenceGradient(at: x, eps: 1e-6) { $0.reduce(0) { $0 + $1 * $1 * $1 } }
        assertClose(gradient, x.map { 3 * $0 * $0 }, atol: 1e-8, rtol: 1e-8, "central difference of sum(x^3)")
    }
}
