import Foundation

/// `report.json`: every figure of a compression run (the page `report.html` draws the same).
public struct CompressionReport: Codable, Sendable {
    public var title: String
    public var model: String?
    public var data: String?
    public var target: String
    public var targetMeasure: String
    public var targetBound: Double
    public var recipe: String
    /// In points (percent).
    public var maxDropPoints: Double
    public var machine: [String: String]
    public var teacher: CompressionStep?
    public var steps: [CompressionStep]
    public var sensitivity: SensitivityProfile?
    public var allocation: RatioAllocation?
    public var curves: [TrainingCurve]
    public var widths: [LayerWidth]
    public var phasesFinished: [String]
    public var wallSeconds: Double
    public var outcome: String?
    public var targetMet: Bool?

    public init(state: CompressionState, directory: String) {
        let c = state.configuration
        model = c.notes["model"]
        data = c.notes["data"]
        title = "Compression of \(model ?? "a model")" + (data.map { " on \($0)" } ?? "") + " (\(directory))"
        target = c.target.description
        targetMeasure = c.target.measure
        targetBound = c.target.bound
        recipe = c.recipe.description
        maxDropPoints = c.maxDrop * 100
        machine = state.machine
        teacher = state.teacher
        steps = state.steps
        sensitivity = state.profile
        allocation = state.allocation
        curves = state.curves
        widths = state.widths
        phasesFinished = state.finished.map(\.rawValue)
        wallSeconds = state.seconds
        outcome = state.outcome
        targetMet = state.targetMet
    }

    /// Reads `DIR/report.json`.
    public static func read(from url: URL) throws -> CompressionReport {
        let decoder = JSONDecoder()
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return try decoder.decode(CompressionReport.self, from: Data(contentsOf: url))
    }

    /// The step table, as a terminal prints it.
    public var table: String {
        var rows = [["step", "precision", "params", "MACs", "file bytes", "latency ms", "MAC ratio", "speed-up", "val acc", "test acc", "time"]]
        for step in (teacher.map { [$0] } ?? []) + steps {
            rows.append(ReportPage.cells(step))
        }
        let widths = rows[0].indices.map { column in rows.map { $0[column].count }.max() ?? 0 }
        return rows.enumerated().map { (index, row) in
            row.enumerated().map { column, cell in
                column == 0 || column == 1 ? cell.padding(toLength: widths[column], withPad: " ", startingAt: 0)
                    : String(repeating: " ", count: widths[column] - cell.count) + cell
            }.joined(separator: "  ") + (index == 0 ? "\n" + widths.map { String(repeating: "-", count: $0) }.joined(separator: "  ") : "")
        }.joined(separator: "\n")
    }
}
