import PareCore
import PareTrain
import XCTest

@testable import PareCompress

/// The distillation loss and the hint loss against PyTorch (values printed by
/// `Fixtures/distillation_reference.py`, PyTorch 2.13 in float64 from the same f32 inputs).
final class DistillationLossTests: XCTestCase {
    let student: [Float] = [1.5, -0.5, 0.25, 2, -1, 0.1, 0.2, -0.3, 0, 0.4, -2, 3, 0.5, -0.5, 1]
    let teacher: [Float] = [2, 0, -1, 1, 0.5, -0.5, 1.5, 0, 0.25, -1, 0, 8, -3, 1, 2]
    let labels = [3, 1, 1]
    let cases: [(alpha: Float, temperature: Float, smoothing: Float, loss: Float, distillation: Float,
                 crossEntropy: Float, gradient: [Float])] = [
        (alpha: 0.5, temperature: 20.0, smoothing: 0.0, loss: 1.17825777, distillation: 1.55974175, crossEntropy: 0.796773798,
         gradient: [0.0366235126, -0.00754189818, 0.0563741987, -0.0429885538, -0.0424672593, 0.0524191625, -0.175569131,
                    0.0118782944, 0.0211765006, 0.0900951736, -0.0149263062, -0.17984542, 0.157824914, 0.00306135497,
                    0.0338854565]),
        (alpha: 0.9, temperature: 4.0, smoothing: 0.1, loss: 1.29881697, distillation: 1.33878473, crossEntropy: 0.939107131,
         gradient: [-0.0290905985, -0.0228886618, 0.0615891339, 0.0625248824, -0.072134756, 0.0423535096, -0.113457779,
                    -0.00996318803, -0.00637774313, 0.0874452004, 0.0186060572, -0.334124452, 0.179210351, 0.0453118934,
                    0.0909961506]),
        (alpha: 0.0, temperature: 2.0, smoothing: 0.0, loss: 0.796773798, distillation: 0.780038782, crossEntropy: 0.796773798,
         gradient: [0.10573128, 0.0143091727, 0.0302925188, -0.159011923, 0.00867895196, 0.0662665863, -0.260097429,
                    0.0444198212, 0.0599604868, 0.0894505351, 0.00179054672, -0.0675926374, 0.0218133247, 0.00802467369,
                    0.0359640923]),
        (alpha: 1.0, temperature: 1.0, smoothing: 0.0, loss: 0.312271837, distillation: 0.312271837, crossEntropy: 0.796773798,
         gradient: [-0.0819424641, -0.0110897066, 0.0209487933, 0.105280098, -0.0331967206, 0.0401459619, -0.119770854,
                    0.00135419223, 0.00466312469, 0.0736075756, 0.00167914281, -0.06634969, 0.0218077782, 0.00772184645,
                    0.0351409226]),
    ]

    func testLossAndGradientMatchPyTorch() throws {
        let s = try Tensor(shape: [3, 5], values: student), t = try Tensor(shape: [3, 5], values: teacher)
        for c in cases {
            let label = "alpha \(c.alpha) T \(c.temperature) smoothing \(c.smoothing)"
            let result = try DistillationLoss(student: s, teacher: t, labels: labels, alpha: c.alpha, temperature: c.temperature,
                                              labelSmoothing: c.smoothing)
            XCTAssertEqual(result.loss, c.loss, accuracy: 1e-6 * max(1, abs(c.loss)), label)
            XCTAssertEqual(result.distillation, c.distillation, accuracy: 1e-6 * max(1, abs(c.distillation)), label)
            XCTAssertEqual(result.crossEntropy, c.crossEntropy, accuracy: 1e-6, label)
            assertCloseRelative(result.gradient, try Tensor(shape: [3, 5], values: c.gradient), rtol: 1e-5, label)
        }
    }

    /// The gradient against central differences of the loss computed in Double.
    func testGradientMatchesCentralDifferences() throws {
        let t = try Tensor(shape: [3, 5], values: teacher)
        let alpha: Float = 0.7, temperature: Float = 3
        let analytic = try DistillationLoss(student: try Tensor(shape: [3, 5], values: student), teacher: t, labels: labels,
                                            alpha: alpha, temperature: temperature, labelSmoothing: 0.05).gradient
        func loss(_ values: [Double]) -> Double {
            var total = 0.0
            for n in 0..<3 {
                let row = (0..<5).map { values[n * 5 + $0] }, teacherRow = (0..<5).map { Double(teacher[n * 5 + $0]) }
                func logSoftmax(_ x: [Double], _ T: Double) -> [Double] {
                    let m = x.map { $0 / T }.max()!
                    let z = m + log(x.map { exp($0 / T - m) }.reduce(0, +))
                    return x.map { $0 / T - z }
                }
                let ls = logSoftmax(row, Double(temperature)), lt = logSoftmax(teacherRow, Double(temperature))
                let kl = (0..<5).reduce(0.0) { $0 + exp(lt[$1]) * (lt[$1] - ls[$1]) }
                let l1 = logSoftmax(row, 1)
                let ce = (0..<5).reduce(0.0) { $0 - ((($1 == labels[n]) ? 0.95 : 0) + 0.05 / 5) * l1[$1] }
                total += Double(alpha) * Double(temperature * temperature) * kl + (1 - Double(alpha)) * ce
            }
            return total / 3
        }
        let base = student.map(Double.init)
        var numeric = [Float](repeating: 0, count: base.count)
        for i in base.indices {
            var plus = base, minus = base
            plus[i] += 1e-5
            minus[i] -= 1e-5
            numeric[i] = Float((loss(plus) - loss(minus)) / 2e-5)
        }
        assertCloseRelative(analytic, try Tensor(shape: [3, 5], values: numeric), rtol: 1e-4, "central differences")
    }

    func testHintLossMatchesPyTorch() throws {
        let adapted = try Tensor(shape: [2, 3], values: [0.5, -1, 2, 0, 1.5, -0.5])
        let target = try Tensor(shape: [2, 3], values: [1, -0.5, 1, 0.25, 1, 0])
        let (loss, gradient) = try hintLoss(adapted: adapted, target: target, weight: 0.7)
        XCTAssertEqual(loss, 0.240624994, accuracy: 1e-7)
        assertCloseRelative(gradient, try Tensor(shape: [2, 3], values: [-0.116666667, -0.116666667, 0.233333334,
                                                                          -0.0583333336, 0.116666667, -0.116666667]),
                            rtol: 1e-6, "hint gradient")
    }

    func testBadArgumentsNameTheProblem() throws {
        let s = try Tensor(shape: [3, 5], values: student)
        XCTAssertThrowsError(try DistillationLoss(student: s, teacher: Tensor(zeros: [3, 4]), labels: labels, alpha: 0.5,
                                                  temperature: 4)) {
            XCTAssertTrue("\($0)".contains("same classes"), "\($0)")
        }
        XCTAssertThrowsError(try DistillationLoss(student: s, teacher: s, labels: labels, alpha: 1.5, temperature: 4)) {
            XCTAssertTrue("\($0)".contains("not in [0, 1]"), "\($0)")
        }
        XCTAssertThrowsError(try DistillationLoss(student: s, teacher: s, labels: labels, alpha: 0.5, temperature: 0)) {
            XCTAssertTrue("\($0)".contains("temperature"), "\($0)")
        }
        XCTAssertThrowsError(try FeatureHint(parsing: "layer1")) { XCTAssertTrue("\($0)".contains("TEACHER_NODE=STUDENT_NODE")) }
        XCTAssertThrowsError(try DistillationSettings(alpha: -1, temperature: 4, hints: [], hintWeight: -2).validate()) {
            XCTAssertTrue("\($0)".contains("alpha") && "\($0)".contains("hint weight"), "\($0)")
        }
    }
}
