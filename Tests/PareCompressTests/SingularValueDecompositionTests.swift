import PareCore
import XCTest

@testable import PareCompress

final class SingularValueDecompositionTests: XCTestCase {
    private func assertClose(_ a: Matrix, _ b: Matrix, tolerance: Double, _ label: String, line: UInt = #line) {
        XCTAssertEqual(a.rows, b.rows, label, line: line)
        XCTAssertEqual(a.columns, b.columns, label, line: line)
        guard a.rows == b.rows, a.columns == b.columns else { return }
        let (worst, error) = zip(a.values, b.values).enumerated().map { ($0.offset, abs($0.element.0 - $0.element.1)) }
            .max { $0.1 < $1.1 } ?? (0, 0)
        XCTAssertLessThanOrEqual(error, tolerance, "\(label): worst element \(worst): \(a.values[worst]) vs \(b.values[worst])", line: line)
    }

    /// [[3, 2, 2], [2, 3, -2]] has singular values 5 and 3 (AAᵀ = [[17, 8], [8, 17]]), with
    /// u₁ = (1, 1)/√2, v₁ = (1, 1, 0)/√2 (up to sign).
    func testHandCheckedCase() throws {
        let a = Matrix(rows: 2, columns: 3, values: [3, 2, 2, 2, 3, -2])
        let svd = try SingularValueDecomposition(a)
        XCTAssertEqual(svd.singularValues.count, 2)
        XCTAssertEqual(svd.singularValues[0], 5, accuracy: 1e-12)
        XCTAssertEqual(svd.singularValues[1], 3, accuracy: 1e-12)
        let sign = svd.u[0, 0] > 0 ? 1.0 : -1.0
        XCTAssertEqual(sign * svd.u[0, 0], 1 / 2.0.squareRoot(), accuracy: 1e-12)
        XCTAssertEqual(sign * svd.u[1, 0], 1 / 2.0.squareRoot(), accuracy: 1e-12)
        XCTAssertEqual(sign * svd.vt[0, 0], 1 / 2.0.squareRoot(), accuracy: 1e-12)
        XCTAssertEqual(sign * svd.vt[0, 1], 1 / 2.0.squareRoot(), accuracy: 1e-12)
        XCTAssertEqual(svd.vt[0, 2], 0, accuracy: 1e-12)
        assertClose(svd.reconstruction(rank: 2), a, tolerance: 1e-12, "reconstruction")
    }

    func testReconstructsTallAndWideMatricesWithOrthonormalFactors() throws {
        var generator = SeededGenerator(seed: 7)
        for (m, n) in [(7, 4), (4, 7), (9, 9), (1, 5)] {
            let a = Matrix(rows: m, columns: n, values: (0..<(m * n)).map { _ in Double(generator.nextNormal()) })
            let svd = try SingularValueDecomposition(a)
            let k = min(m, n)
            XCTAssertEqual(svd.u.rows, m); XCTAssertEqual(svd.u.columns, k)
            XCTAssertEqual(svd.vt.rows, k); XCTAssertEqual(svd.vt.columns, n)
            XCTAssertEqual(svd.singularValues, svd.singularValues.sorted(by: >), "descending")
            assertClose(svd.reconstruction(rank: k), a, tolerance: 1e-10, "U Σ Vᵀ = A (\(m)x\(n))")
            var identity = Matrix(zeros: k, k)
            for i in 0..<k { identity[i, i] = 1 }
            assertClose(svd.u.transposed.multiplied(by: svd.u), identity, tolerance: 1e-10, "UᵀU (\(m)x\(n))")
            assertClose(svd.vt.multiplied(by: svd.vt.transposed), identity, tolerance: 1e-10, "VᵀV (\(m)x\(n))")
        }
    }

    func testRankByEnergy() throws {
        XCTAssertEqual(SingularValueDecomposition.rank([3, 2, 1], keepingEnergy: 0.5), 1)   // 9/14
        XCTAssertEqual(SingularValueDecomposition.rank([3, 2, 1], keepingEnergy: 0.9), 2)   // 13/14 = 0.93
        XCTAssertEqual(SingularValueDecomposition.rank([3, 2, 1], keepingEnergy: 0.95), 3)
        XCTAssertEqual(SingularValueDecomposition.rank([3, 2, 1], keepingEnergy: 1), 3)
        XCTAssertEqual(RankChoice.fixed(10).rank([3, 2, 1]), 3)
        XCTAssertThrowsError(try RankChoice.energy(1.5).check())
        XCTAssertThrowsError(try RankChoice.fixed(0).check())
    }

    func testSymmetricEigendecomposition() throws {
        let e = try SymmetricEigendecomposition(Matrix(rows: 2, columns: 2, values: [2, 1, 1, 2]))
        XCTAssertEqual(e.values[0], 3, accuracy: 1e-12)
        XCTAssertEqual(e.values[1], 1, accuracy: 1e-12)
        XCTAssertEqual(abs(e.vectors[0, 0]), 1 / 2.0.squareRoot(), accuracy: 1e-12)
        XCTAssertEqual(e.vectors[0, 0], e.vectors[1, 0], accuracy: 1e-12)
    }
}
