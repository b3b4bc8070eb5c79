import PareCore
import PareTrain
import XCTest

final class SoftmaxCrossEntropyTests: XCTestCase {
    // logits [[1, 2, 3], [1, 1, 1]], labels [2, 0].
    // Row 0: log Σ exp = 3 + log(1 + e^-1 + e^-2) = 3.40760596, so -log p = [2.40760596, 1.40760596,
    //   0.40760596] and p = [0.09003057, 0.24472847, 0.66524096].
    // Row 1: p = 1/3 each, -log p = log 3 = 1.09861229.
    private let logits = try! Tensor(shape: [2, 3], values: [1, 2, 3, 1, 1, 1])

    func testWithoutLabelSmoothing() throws {
        // loss = (0.40760596 + 1.09861229) / 2 = 0.75310913; dLogits = (p - oneHot) / 2.
        let (loss, dLogits) = try softmaxCrossEntropy(logits: logits, labels: [2, 0])
        XCTAssertEqual(loss, 0.75310913, accuracy: 1e-6)
        XCTAssertEqual(dLogits.shape, [2, 3])
        assertClose(dLogits.scalars, [0.04501529, 0.12236424, -0.16737952, -0.33333333, 0.16666667, 0.16666667])
    }

    func testWithLabelSmoothing() throws {
        // ε = 0.3, 3 classes: targets row 0 [0.1, 0.1, 0.8], row 1 [0.8, 0.1, 0.1].
        // Row 0: 0.1 * 2.40760596 + 0.1 * 1.40760596 + 0.8 * 0.40760596 = 0.70760596
        //   (= 0.7 * 0.40760596 + 0.1 * (2.40760596 + 1.40760596 + 0.40760596)).
        // Row 1: every -log p is log 3, targets sum to 1: 1.09861229.
        // loss = (0.70760596 + 1.09861229) / 2 = 0.90310913; dLogits = (p - target) / 2.
        let (loss, dLogits) = try softmaxCrossEntropy(logits: logits, labels: [2, 0], labelSmoothing: 0.3)
        XCTAssertEqual(loss, 0.90310913, accuracy: 1e-6)
        assertClose(dLogits.scalars, [-0.00498471, 0.07236424, -0.06737952, -0.23333333, 0.11666667, 0.11666667])
    }

    func testLargeLogitsStayFinite() throws {
        // -log p[0] = log(1 + e^-1000 + e^-2000) ≈ 0; naive exp(1000) would overflow.
        let large = try Tensor(shape: [1, 3], values: [1000, 0, -1000])
        let (loss, dLogits) = try softmaxCrossEntropy(logits: large, labels: [0])
        XCTAssertEqual(loss, 0, accuracy: 1e-6)
        assertClose(dLogits.scalars, [0, 0, 0])
        let (wrong, _) = try softmaxCrossEntropy(logits: large, labels: [2])
        XCTAssertEqual(wrong, 2000, accuracy: 1e-3)
    }

    func testNonFiniteLogitsGiveANonFiniteLoss() throws {
        for bad in [Float.nan, .infinity, -.infinity] {
            let tensor = try Tensor(shape: [1, 3], values: [bad, 0, 1])
            let (loss, _) = try softmaxCrossEntropy(logits: tensor, labels: [0])
            XCTAssertFalse(loss.isFinite, "logit \(bad) gave loss \(loss)")
        }
    }

    func testInvalidLabelsThrow() {
        XCTAssertThrowsError(try softmaxCrossEntropy(logits: logits, labels: [2, 3]))
        XCTAssertThrowsError(try softmaxCrossEntropy(logits: logits, labels: [0]))
        XCTAssertThrowsError(try softmaxCrossEntropy(logits: logits, labels: [0, -1]))
    }

    private func assertClose(_ actual: [Float], _ expected: [Float], tolerance: Float = 1e-6,
                             file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(actual.count, expected.count, file: file, line: line)
        for (index, (a, e)) in zip(actual, expected).enumerated() where abs(a - e) > tolerance {
            XCTFail("element \(index): \(a) != \(e)", file: file, line: line)
        }
    }
}
