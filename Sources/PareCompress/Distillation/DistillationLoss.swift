#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif
import PareCore
import PareTrain

/// The knowledge-distillation loss of a batch and its gradient with respect to the
/// student's logits (Hinton et al.; the seed's `α·T²·KL + (1−α)·CE`):
///
///     loss = α · T² · KL(softmax(t/T) ‖ softmax(s/T)) + (1 − α) · CE(s, y)
///
/// with the KL divergence averaged over the batch (PyTorch's
/// `F.kl_div(F.log_softmax(s/T), F.softmax(t/T), reduction="batchmean") * T*T`) and `CE`
/// PyTorch's `F.cross_entropy(s, y, label_smoothing: ε)`. The gradient of the first term is
/// `α · T · (softmax(s/T) − softmax(t/T)) / N`. Log-softmaxes are computed in double
/// precision, shifted by the row maximum.
public struct DistillationLoss: Sendable {
    /// The whole loss.
    public var loss: Float
    /// `T² · KL`, before the `α` weight.
    public var distillation: Float
    /// Cross-entropy against the labels, before the `1 − α` weight.
    public var crossEntropy: Float
    /// d loss / d student logits, `[N, classes]`.
    public var gradient: Tensor

    /// Computes the loss of `student` logits against `teacher` logits (both `[N, classes]`)
    /// and `labels`. `alpha` in [0, 1], `temperature` > 0.
    public init(student: Tensor, teacher: Tensor, labels: [Int], alpha: Float, temperature: Float,
                labelSmoothing: Float = 0) throws {
        guard student.shape.rank == 2, student.dtype == .f32 else {
            throw LossError.invalidArgument("student logits must be f32 [batch, classes], got \(student.dtype.rawValue) \(student.shape)")
        }
        guard teacher.shape == student.shape, teacher.dtype == .f32 else {
            throw LossError.invalidArgument("teacher logits are \(teacher.shape), the student's \(student.shape): "
                                            + "teacher and student must classify the same classes")
        }
        guard alpha >= 0, alpha <= 1 else { throw LossError.invalidArgument("distillation weight α \(alpha) not in [0, 1]") }
        guard temperature > 0, temperature.isFinite else {
            throw LossError.invalidArgument("temperature \(temperature) must be positive")
        }
        let (crossEntropy, ceGradient) = try softmaxCrossEntropy(logits: student, labels: labels, labelSmoothing: labelSmoothing)
        let batch = student.shape[0], classes = student.shape[1]
        let s = student.floats, t = teacher.floats
        let T = Double(temperature), a = Double(alpha)
        let gradient = Tensor(zeros: student.shape)
        let g = gradient.floats, ce = ceGradient.floats
        var studentLog = [Double](repeating: 0, count: classes), teacherLog = [Double](repeating: 0, count: classes)
        var kl = 0.0
        func logSoftmax(_ x: UnsafeMutableBufferPointer<Float>, row: Int, into out: inout [Double]) {
            var maximum = -Double.infinity
            for c in 0..<classes { maximum = max(maximum, Double(x[row + c]) / T) }
            var sum = 0.0
            for c in 0..<classes { sum += exp(Double(x[row + c]) / T - maximum) }
            let normalizer = maximum + log(sum)
            for c in 0..<classes { out[c] = Double(x[row + c]) / T - normalizer }
        }
        for n in 0..<batch {
            let row = n * classes
            logSoftmax(s, row: row, into: &studentLog)
            logSoftmax(t, row: row, into: &teacherLog)
            for c in 0..<classes {
                let pTeacher = exp(teacherLog[c]), pStudent = exp(studentLog[c])
                if pTeacher > 0 { kl += pTeacher * (teacherLog[c] - studentLog[c]) }
                g[row + c] = Float(a * T * (pStudent - pTeacher) / Double(batch) + (1 - a) * Double(ce[row + c]))
            }
        }
        let distillation = kl / Double(batch) * T * T
        self.loss = Float(a * distillation + (1 - a) * Double(crossEntropy))
        self.distillation = Float(distillation)
        self.crossEntropy = crossEntropy
        self.gradient = gradient
    }
}

/// FitNets' hint loss: the mean squared error between a student feature map (through its
/// adapter) and the teacher's, `weight · mean((a − t)²)` (PyTorch `F.mse_loss`), with its
/// gradient `2 · weight · (a − t) / count`.
public func hintLoss(adapted: Tensor, target: Tensor, weight: Float) throws -> (loss: Float, gradient: Tensor) {
    guard adapted.shape == target.shape else {
        throw LossError.invalidArgument("hint: the adapted student feature is \(adapted.shape), the teacher's \(target.shape)")
    }
    let count = adapted.shape.elementCount
    let gradient = Tensor(zeros: adapted.shape)
    let a = adapted.floats, t = target.floats, g = gradient.floats
    var sum = 0.0
    let scale = 2 * Double(weight) / Double(max(count, 1))
    for i in 0..<count {
        let d = Double(a[i]) - Double(t[i])
        sum += d * d
        g[i] = Float(scale * d)
    }
    return (Float(Double(weight) * sum / Double(max(count, 1))), gradient)
}
