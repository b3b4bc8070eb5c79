import Foundation
import PareCompress
import PareCore

/// Shows a ``CompressionPipeline``'s progress: a line per phase and per measured step, the
/// trainings as `pare train` shows them, the sensitivity evaluations and calibration as a
/// redrawn line on a terminal.
final class CompressionDisplay {
    let training: TrainingDisplay
    let terminal: Bool
    let pruneSteps: Int

    init(logEvery: Int, pruneSteps: Int, terminal: Bool = isatty(STDERR_FILENO) != 0) {
        training = TrainingDisplay(logEvery: logEvery, terminal: terminal)
        self.terminal = terminal
        self.pruneSteps = pruneSteps
    }

    private func draw(_ text: String) { FileHandle.standardError.write(Data("\r\u{1B}[K\(text)".utf8)) }

    private func say(_ line: String) {
        print(line)
        fflush(nil)  // all output streams: lines reach a pipe as they are printed
    }

    func handle(_ event: CompressionEvent) {
        switch event {
        case let .phaseStarted(phase, detail): say("== \(phase.rawValue): \(detail)")
        case let .sensitivity(.evaluated(done, total, group, ratio, accuracy)):
            let line = String(format: "sensitivity %d/%d: %@ at %.2f: %.2f%%", done, total, group, ratio, accuracy * 100)
            if terminal {
                draw(done == total ? "" : line)
            } else if done % 10 == 0 || done == total {
                say(line)
            }
        case let .training(_, event): training.handle(event)
        case let .pruning(event):
            switch event {
            case let .stepStarted(step, _):
                say("prune step \(step)/\(pruneSteps): " + (step == pruneSteps ? "to the allocated ratios"
                    : String(format: "to %.0f%% of the allocated ratios", Double(step) / Double(pruneSteps) * 100)))
            case let .training(_, event): training.handle(event)
            case .measuring, .stepFinished: break
            case let .stopped(message): say("pruning stopped: \(message)")
            }
        case let .calibrating(pass, batch, _):
            if terminal { draw("calibrating: pass \(pass), batch \(batch + 1)") }
        case let .stepFinished(step):
            if terminal { draw("") }
            say(Self.line(step))
        case let .note(text): say(text)
        }
    }

    static func line(_ s: CompressionStep) -> String {
        var text = String(format: "%@: %@ parameters, %@ MACs, %@ bytes, %.3f ms (%.2fx measured, %.2fx by MACs)", s.name,
                          grouped(Double(s.parameters)), grouped(Double(s.figures.macs)), grouped(Double(s.figures.fileBytes)),
                          s.figures.latencyMilliseconds, s.measuredSpeedup, s.macRatio)
        if let v = s.validationAccuracy { text += String(format: ", validation %.2f%%", v * 100) }
        if let t = s.testAccuracy { text += String(format: ", test %.2f%%", t * 100) }
        return text
    }
}

/// Runs `pipeline` with a display (none with `json`), then prints the step table (or
/// report.json) and where the report is; a stop is rethrown as the command's error after that.
func runCompression(_ pipeline: CompressionPipeline, logEvery: Int, json: Bool) throws {
    if !json {
        let display = CompressionDisplay(logEvery: logEvery, pruneSteps: pipeline.configuration.pruneSteps)
        pipeline.onEvent = display.handle
    }
    var failure: CompressionError?
    do {
        try pipeline.run()
    } catch let error as CompressionError {
        failure = error
    }
    let file = pipeline.directory.appendingPathComponent("report.json")
    if json {
        print(String(decoding: try fileContents(file), as: UTF8.self))
    } else {
        let report = try CompressionReport.read(from: file)
        print("\n" + report.table)
        print("wall time \(duration(report.wallSeconds)); report: \(pipeline.directory.path)/report.html (figures in report.json)")
        if failure == nil { print("target met: \(report.target); final model \(pipeline.directory.path)/final.safetensors") }
    }
    if let failure { throw CommandError("stopped: \(failure)") }
}
