import Foundation
import PareAnalysis
import PareTrain

/// Shows a ``Trainer``'s progress: on a terminal, one bar per epoch redrawn in place on
/// standard error; otherwise plain lines on standard output every `logEvery` batches.
/// Either way each finished epoch gets one line on standard output.
final class TrainingDisplay {
    let terminal: Bool
    let logEvery: Int
    private var lastDraw = ContinuousClock.now - .seconds(1)
    private var selectedBy = "test"

    init(logEvery: Int, terminal: Bool = isatty(STDERR_FILENO) != 0) {
        self.logEvery = max(logEvery, 1)
        self.terminal = terminal
    }

    func handle(_ event: TrainingEvent) {
        switch event {
        case let .epochStarted(epoch, epochs, batches, learningRate):
            if !terminal { say("epoch \(epoch)/\(epochs): \(batches) batches, learning rate \(learningRate)") }
        case let .batchFinished(p):
            // Called after every batch: format only when something is shown.
            let last = p.batch == p.batches
            guard terminal ? last || ContinuousClock.now - lastDraw > .milliseconds(100) : last || p.batch % logEvery == 0
            else { return }
            let line = String(format: "%d/%d  loss %.4f  acc %.2f%%  %@ img/s  ETA %@", p.batch, p.batches, p.loss,
                              p.accuracy * 100, grouped(p.imagesPerSecond), duration(p.secondsRemaining))
            if terminal {
                lastDraw = .now
                let width = 24, filled = width * p.batch / max(p.batches, 1)
                let bar = String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled)
                draw("epoch \(p.epoch)/\(p.epochs) [\(bar)] " + line)
            } else {
                say("  epoch \(p.epoch)/\(p.epochs) batch " + line)
            }
        case let .evaluating(epoch):
            if terminal { draw("epoch \(epoch): evaluating") }
        case let .epochFinished(m, isBest):
            if terminal { draw("") }
            var line = String(format: "epoch %2d  lr %.5f  train loss %.4f acc %.2f%%", m.epoch, m.learningRate, m.trainLoss,
                              m.trainAccuracy * 100)
            for (name, score) in [("val", m.validation), ("test", m.test)] {
                if let score { line += String(format: "  %@ loss %.4f acc %.2f%%", name, score.loss, score.accuracy * 100) }
            }
            line += String(format: "  %.1f s  %@ img/s", m.seconds, grouped(m.imagesPerSecond)) + (isBest ? "  (best)" : "")
            say(line)
        }
    }

    private func say(_ line: String) {
        print(line)
        fflush(nil)  // all output streams: lines reach a pipe as they are printed
    }

    private func draw(_ line: String) {
        FileHandle.standardError.write(Data(("\r" + line + "\u{1B}[K").utf8))
    }
}

/// `12,345` for 12345.4 (`-` when not finite).
func grouped(_ value: Double) -> String {
    value.isFinite ? groupedDigits(Int(value.rounded())) : "-"
}

/// `1h02m`, `3m05s` or `42s`.
func duration(_ seconds: Double) -> String {
    guard seconds.isFinite, seconds >= 0 else { return "-" }
    let s = Int(seconds.rounded())
    if s >= 3600 { return String(format: "%dh%02dm", s / 3600, s % 3600 / 60) }
    if s >= 60 { return String(format: "%dm%02ds", s / 60, s % 60) }
    return "\(s)s"
}
