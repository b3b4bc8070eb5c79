import Foundation

/// A horizontal grouped bar chart drawn as a self-contained SVG: one row per category, one bar
/// per series in it, the value printed at the bar's end. For per-layer widths before and after
/// compression and the like.
public struct BarChart: Sendable {
    public struct Series: Sendable {
        public var label: String
        /// One value per category; nil draws no bar (the layer is absent in that model).
        public var values: [Double?]
        public init(label: String, values: [Double?]) {
            self.label = label
            self.values = values
        }
    }

    public var title: String
    public var valueLabel: String
    public var categories: [String]
    public var series: [Series]
    public var width = 720.0

    public init(title: String, valueLabel: String, categories: [String], series: [Series]) {
        self.title = title
        self.valueLabel = valueLabel
        self.categories = categories
        self.series = series
    }

    public var svg: String {
        let barHeight = 9.0, gap = 6.0
        let rowHeight = Double(max(1, series.count)) * barHeight + gap
        let longest = Double(categories.map(\.count).max() ?? 4)
        let left = min(260, 12 + longest * 6.6), right = 60.0, top = 48.0, bottom = 40.0
        let plotW = width - left - right
        let height = top + bottom + rowHeight * Double(max(1, categories.count))
        let maximum = max(1e-12, series.flatMap { $0.values.compactMap { $0 } }.filter(\.isFinite).max() ?? 1)
        func f(_ v: Double) -> String { String(format: "%.1f", v) }
        var out = """
        <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height))" viewBox="0 0 \(Int(width)) \(Int(height))" font-family="sans-serif" font-size="11">
        <rect width="100%" height="100%" fill="white"/>
        <text x="\(f(width / 2))" y="20" text-anchor="middle" font-size="15">\(LinePlot.escape(title))</text>

        """
        for (i, s) in series.enumerated() {
            let x = left + Double(i) * 140
            out += "<rect x=\"\(f(x))\" y=\"30\" width=\"12\" height=\"10\" fill=\"\(LinePlot.colors[i % LinePlot.colors.count])\"/>"
            out += "<text x=\"\(f(x + 16))\" y=\"39\">\(LinePlot.escape(s.label))</text>\n"
        }
        for tick in LinePlot.ticks(0, maximum) {
            let x = left + tick / maximum * plotW
            out += "<line x1=\"\(f(x))\" y1=\"\(f(top))\" x2=\"\(f(x))\" y2=\"\(f(height - bottom))\" stroke=\"#ddd\"/>"
            out += "<text x=\"\(f(x))\" y=\"\(f(height - bottom + 14))\" text-anchor=\"middle\">\(LinePlot.label(tick))</text>\n"
        }
        out += "<text x=\"\(f(left + plotW / 2))\" y=\"\(f(height - 8))\" text-anchor=\"middle\">\(LinePlot.escape(valueLabel))</text>\n"
        for (row, category) in categories.enumerated() {
            let y0 = top + Double(row) * rowHeight
            out += "<text x=\"\(f(left - 6))\" y=\"\(f(y0 + rowHeight / 2 + 1))\" text-anchor=\"end\">\(LinePlot.escape(category))</text>\n"
            for (i, s) in series.enumerated() {
                guard row < s.values.count, let value = s.values[row], value.isFinite else { continue }
                let y = y0 + Double(i) * barHeight
                let w = max(0.5, value / maximum * plotW)
                out += "<rect x=\"\(f(left))\" y=\"\(f(y))\" width=\"\(f(w))\" height=\"\(f(barHeight - 1))\" "
                    + "fill=\"\(LinePlot.colors[i % LinePlot.colors.count])\"><title>\(LinePlot.escape(category)) "
                    + "\(LinePlot.escape(s.label)): \(LinePlot.label(value))</title></rect>"
                out += "<text x=\"\(f(left + w + 3))\" y=\"\(f(y + barHeight - 2))\" font-size=\"9\">\(LinePlot.label(value))</text>\n"
            }
        }
        return out + "</svg>\n"
    }
}
