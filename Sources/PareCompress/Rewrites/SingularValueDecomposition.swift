import CBLAS
import PareCore

/// A dense matrix of Doubles, row-major: element `(i, j)` is `values[i * columns + j]`.
public struct Matrix: Equatable, Sendable {
    public var rows: Int
    public var columns: Int
    public var values: [Double]

    public init(rows: Int, columns: Int, values: [Double]) {
        precondition(values.count == rows * columns, "matrix \(rows)x\(columns) needs \(rows * columns) values, got \(values.count)")
        self.rows = rows; self.columns = columns; self.values = values
    }

    public init(zeros rows: Int, _ columns: Int) {
        self.init(rows: rows, columns: columns, values: [Double](repeating: 0, count: rows * columns))
    }

    public subscript(i: Int, j: Int) -> Double {
        get { values[i * columns + j] }
        set { values[i * columns + j] = newValue }
    }

    public var transposed: Matrix {
        var result = Matrix(zeros: columns, rows)
        for i in 0..<rows { for j in 0..<columns { result[j, i] = self[i, j] } }
        return result
    }

    /// `self * other` (BLAS `dgemm`).
    public func multiplied(by other: Matrix) -> Matrix {
        precondition(columns == other.rows, "cannot multiply \(rows)x\(columns) by \(other.rows)x\(other.columns)")
        var result = Matrix(zeros: rows, other.columns)
        guard rows > 0, other.columns > 0, columns > 0 else { return result }
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(rows), Int32(other.columns), Int32(columns),
                    1, values, Int32(columns), other.values, Int32(other.columns), 0, &result.values, Int32(other.columns))
        return result
    }

    /// Squared Frobenius norm of `self - other`.
    public func squaredDistance(to other: Matrix) -> Double {
        zip(values, other.values).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) }
    }
}

/// The thin singular value decomposition `A = U · diag(σ) · Vᵀ` of an m x n matrix, by
/// LAPACK's `dgesdd` (OpenBLAS), in Double: `u` is m x k, `singularValues` has k values in
/// descending order, `vt` is k x n, k = min(m, n).
public struct SingularValueDecomposition: Sendable {
    public var u: Matrix
    public var singularValues: [Double]
    public var vt: Matrix

    public init(_ a: Matrix) throws {
        let m = a.rows, n = a.columns, k = min(m, n)
        guard k > 0 else { throw RewriteError.numerical("SVD of an empty \(m)x\(n) matrix") }
        // LAPACK is column-major: the column-major m x n A is the row-major transpose.
        var columnMajor = a.transposed.values
        var s = [Double](repeating: 0, count: k)
        var uColumnMajor = [Double](repeating: 0, count: m * k)
        var vtColumnMajor = [Double](repeating: 0, count: k * n)
        var iwork = [Int32](repeating: 0, count: 8 * k)
        var job = CChar(UInt8(ascii: "S"))
        var mm = Int32(m), nn = Int32(n), lda = Int32(m), ldu = Int32(m), ldvt = Int32(k), info: Int32 = 0
        var lwork: Int32 = -1, query = 0.0
        dgesdd_(&job, &mm, &nn, &columnMajor, &lda, &s, &uColumnMajor, &ldu, &vtColumnMajor, &ldvt, &query, &lwork, &iwork, &info)
        guard info == 0 else { throw RewriteError.numerical("dgesdd workspace query failed (info \(info))") }
        lwork = Int32(query)
        var work = [Double](repeating: 0, count: max(1, Int(lwork)))
        dgesdd_(&job, &mm, &nn, &columnMajor, &lda, &s, &uColumnMajor, &ldu, &vtColumnMajor, &ldvt, &work, &lwork, &iwork, &info)
        guard info == 0 else {
            throw RewriteError.numerical("dgesdd failed on a \(m)x\(n) matrix (info \(info)\(info > 0 ? ": did not converge" : ""))")
        }
        // Back to row-major.
        u = Matrix(rows: k, columns: m, values: uColumnMajor).transposed
        vt = Matrix(rows: n, columns: k, values: vtColumnMajor).transposed
        singularValues = s
    }

    /// The smallest rank whose leading singular values keep `energy` of `Σ σ²`
    /// (`Σ_{i<r} σ_i² ≥ energy · Σ σ²`), at least 1.
    public func rank(keepingEnergy energy: Double) -> Int {
        Self.rank(singularValues, keepingEnergy: energy)
    }

    static func rank(_ values: [Double], keepingEnergy energy: Double) -> Int {
        let total = values.reduce(0) { $0 + $1 * $1 }
        var kept = 0.0
        for (i, s) in values.enumerated() {
            kept += s * s
            if kept >= energy * total * (1 - 1e-12) { return i + 1 }
        }
        return max(1, values.count)
    }

    /// `U_r · diag(σ_r) · V_rᵀ`, the best rank-`r` approximation.
    public func reconstruction(rank r: Int) -> Matrix {
        var result = Matrix(zeros: u.rows, vt.columns)
        for l in 0..<min(r, singularValues.count) {
            let s = singularValues[l]
            for i in 0..<u.rows {
                let a = u[i, l] * s
                for j in 0..<vt.columns { result.values[i * vt.columns + j] += a * vt[l, j] }
            }
        }
        return result
    }
}

/// Eigen-decomposition of a symmetric matrix by LAPACK's `dsyevd`: eigenvalues in
/// descending order, `vectors` column `i` the eigenvector of eigenvalue `i`.
public struct SymmetricEigendecomposition: Sendable {
    public var values: [Double]
    public var vectors: Matrix

    public init(_ a: Matrix) throws {
        precondition(a.rows == a.columns, "eigendecomposition of a non-square \(a.rows)x\(a.columns) matrix")
        let n = a.rows
        var storage = a.values  // symmetric: row- and column-major agree
        var w = [Double](repeating: 0, count: n)
        var job = CChar(UInt8(ascii: "V")), uplo = CChar(UInt8(ascii: "U"))
        var nn = Int32(n), lda = Int32(max(1, n)), info: Int32 = 0
        var lwork: Int32 = -1, liwork: Int32 = -1, query = 0.0, iquery: Int32 = 0
        dsyevd_(&job, &uplo, &nn, &storage, &lda, &w, &query, &lwork, &iquery, &liwork, &info)
        guard info == 0 else { throw RewriteError.numerical("dsyevd workspace query failed (info \(info))") }
        lwork = Int32(query); liwork = iquery
        var work = [Double](repeating: 0, count: max(1, Int(lwork)))
        var iwork = [Int32](repeating: 0, count: max(1, Int(liwork)))
        dsyevd_(&job, &uplo, &nn, &storage, &lda, &w, &work, &lwork, &iwork, &liwork, &info)
        guard info == 0 else { throw RewriteError.numerical("dsyevd failed on a \(n)x\(n) matrix (info \(info))") }
        // Column-major eigenvectors: column i is storage[i*n ..< (i+1)*n]. Reverse to descending.
        values = w.reversed()
        var v = Matrix(zeros: n, n)
        for column in 0..<n { for row in 0..<n { v[row, column] = storage[(n - 1 - column) * n + row] } }
        vectors = v
    }
}
