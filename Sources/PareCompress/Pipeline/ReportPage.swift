import Foundation
import PareAnalysis

/// `report.html`: one self-contained page (inline CSS and SVG, no scripts, nothing fetched;
/// well-formed XML, so any XML parser reads it)
/// drawn from a ``CompressionReport``: the outcome, the step table, accuracy against
/// parameters, predicted against measured speed-up, training curves per phase, layer widths
/// before and after, the sensitivity profile and the allocation.
public struct ReportPage {
    public var report: CompressionReport

    public init(report: CompressionReport) { self.report = report }

    // MARK: Formatting (the table's cells; `report.json` holds the unrounded figures)

    public static func percent(_ x: Double?) -> String { x.map { String(format: "%.2f%%", $0 * 100) } ?? "–" }
    public static func milliseconds(_ x: Double) -> String { String(format: "%.3f", x) }
    public static func ratio(_ x: Double) -> String { String(format: "%.2f×", x) }
    public static func seconds(_ x: Double) -> String {
        x < 60 ? String(format: "%.0f s", x) : String(format: "%dm%02ds", Int(x) / 60, Int(x) % 60)
    }

    /// One step's row: name, precision, params, MACs, file bytes, latency, MAC ratio, measured
    /// speed-up, validation and test accuracy, time.
    public static func cells(_ s: CompressionStep) -> [String] {
        [s.name, s.precision, String(s.figures.parameters), String(s.figures.macs), String(s.figures.fileBytes),
         milliseconds(s.figures.latencyMilliseconds), ratio(s.macRatio), ratio(s.measuredSpeedup),
         percent(s.validationAccuracy), percent(s.testAccuracy), seconds(s.seconds)]
    }

    private func escape(_ text: String) -> String { LinePlot.escape(text) }

    public var html: String {
        let r = report
        var body = "<h1>\(escape(r.title))</h1>\n"
        let outcome: String
        switch r.targetMet {
        case .some(true): outcome = "<p class=\"ok\">Target met: \(escape(r.target)).</p>"
        case .some(false): outcome = "<p class=\"bad\">\(escape(r.outcome ?? "target not met"))</p>"
        case .none: outcome = "<p class=\"running\">Run in progress or interrupted after: \(escape(r.phasesFinished.joined(separator: ", ")))."
            + " Continue it with <code>pare compress --resume DIR</code>.</p>"
        }
        body += outcome + "\n"
        body += "<p>Target: \(escape(r.target)); recipe \(escape(r.recipe)); max drop \(String(format: "%.2f", r.maxDropPoints)) points; "
            + "wall time \(Self.seconds(r.wallSeconds)).<br/>Measured on: "
            + escape(r.machine.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
            + ". Speed-up is the starting model's latency ÷ the step's, same machine, batch and threads; "
            + "MAC ratio is the speed-up MACs predict.</p>\n"
        body += stepTable
        if r.steps.count > 1 {
            body += "<h2>Accuracy against parameters</h2>\n" + accuracyPlot.svg
            body += "<h2>Speed-up: predicted by MACs and measured</h2>\n" + speedupPlot.svg
        }
        if !r.curves.isEmpty {
            body += "<h2>Training curves per phase</h2>\n<div class=\"grid\">\n"
            for curve in r.curves where !curve.epochs.isEmpty {
                body += "<div>" + TrainingCurves.accuracyPlot(curve.epochs, title: "\(curve.phase): accuracy").svg + "</div>\n"
                body += "<div>" + TrainingCurves.lossPlot(curve.epochs, title: "\(curve.phase): loss").svg + "</div>\n"
            }
            body += "</div>\n"
        }
        if r.widths.contains(where: { $0.after != nil }) {
            body += "<h2>Layer widths before and after</h2>\n" + widthChart.svg
        }
        if let profile = r.sensitivity {
            body += "<h2>Sensitivity</h2>\n<p>Each channel group pruned alone (\(escape(profile.criterion)) criterion, no fine-tuning), "
                + "accuracy on \(profile.samples) \(escape(profile.subset)) images; baseline \(Self.percent(profile.baseline)), "
                + "computed in \(Self.seconds(profile.seconds)).</p>\n"
            body += profile.plot(title: "accuracy drop per group pruned alone").svg
            body += sensitivityTable(profile)
        }
        if let allocation = r.allocation {
            body += "<h2>Allocation</h2>\n<p>Predicted drop before fine-tuning \(String(format: "%.2f", allocation.predictedDrop * 100)) points "
                + "(sum of the profile's drops).</p>\n<table><tr><th>group</th><th>ratio</th></tr>\n"
            for (name, ratio) in allocation.ratios.sorted(by: { $0.key < $1.key }) {
                body += "<tr><td>\(escape(name))</td><td>\(String(format: "%.2f", ratio))</td></tr>\n"
            }
            body += "</table>\n"
        }
        return """
        <!DOCTYPE html>
        <html lang="en" xmlns="http://www.w3.org/1999/xhtml"><head><meta charset="utf-8"/><title>\(escape(r.title))</title>
        <style>
        body { font-family: sans-serif; margin: 2em; max-width: 1500px; color: #222; }
        table { border-collapse: collapse; margin: 1em 0; }
        td, th { border: 1px solid #ccc; padding: 3px 8px; text-align: right; }
        td:first-child, th:first-child { text-align: left; }
        .ok { color: #1a7f37; font-weight: bold; } .bad { color: #b42318; font-weight: bold; } .running { color: #9a6700; }
        .grid { display: grid; grid-template-columns: repeat(2, 740px); gap: 8px; }
        svg { margin: 6px 0; }
        </style></head>
        <body>
        \(body)
        </body></html>

        """
    }

    private var stepTable: String {
        let headers = ["step", "precision", "params", "MACs", "file bytes", "latency ms", "MAC ratio", "speed-up", "val acc", "test acc", "time"]
        var out = "<table class=\"steps\">\n<tr>" + headers.map { "<th>\($0)</th>" }.joined() + "</tr>\n"
        for step in (report.teacher.map { [$0] } ?? []) + report.steps {
            out += "<tr>" + Self.cells(step).map { "<td>\(escape($0))</td>" }.joined() + "</tr>\n"
        }
        return out + "</table>\n"
    }

    private func sensitivityTable(_ p: SensitivityProfile) -> String {
        var out = "<table><tr><th>group</th><th>units</th>" + p.ratios.map { "<th>\(String(format: "%.2f", $0))</th>" }.joined() + "</tr>\n"
        for g in p.groups {
            out += "<tr><td>\(escape(g.name))</td><td>\(g.units)</td>"
                + g.accuracy.map { "<td>\(String(format: "%+.2f", (p.baseline - $0) * 100))</td>" }.joined() + "</tr>\n"
        }
        return out + "</table>\n"
    }

    var accuracyPlot: LinePlot {
        var series: [LinePlot.Series] = []
        let validation = report.steps.compactMap { s in s.validationAccuracy.map { (Double(s.parameters), $0 * 100) } }
        if !validation.isEmpty { series.append(LinePlot.Series(label: "validation", points: validation)) }
        let test = report.steps.compactMap { s in s.testAccuracy.map { (Double(s.parameters), $0 * 100) } }
        if !test.isEmpty { series.append(LinePlot.Series(label: "test", points: test)) }
        return LinePlot(title: "accuracy of every step against its parameters", xLabel: "parameters", yLabel: "accuracy (%)",
                        series: series)
    }

    var speedupPlot: LinePlot {
        let steps = report.steps.enumerated()
        return LinePlot(title: "speed-up per step (0 = " + (report.steps.first?.name ?? "start") + ")", xLabel: "step",
                        yLabel: "× the starting model",
                        series: [LinePlot.Series(label: "MAC ratio", points: steps.map { (Double($0.offset), $0.element.macRatio) }),
                                 LinePlot.Series(label: "measured", points: steps.map { (Double($0.offset), $0.element.measuredSpeedup) })])
    }

    var widthChart: BarChart {
        BarChart(title: "output channels of every convolution and linear layer", valueLabel: "channels",
                 categories: report.widths.map(\.name),
                 series: [BarChart.Series(label: "before", values: report.widths.map { $0.before.map(Double.init) }),
                          BarChart.Series(label: "after", values: report.widths.map { $0.after.map(Double.init) })])
    }
}
