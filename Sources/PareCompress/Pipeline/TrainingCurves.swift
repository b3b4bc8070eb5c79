import PareAnalysis
import PareTrain

/// Loss and accuracy per epoch of one training run, as two line plots (train, validation and
/// test where measured): what `pare train` writes beside its metrics and what the compression
/// report draws for every phase.
public enum TrainingCurves {
    public static func accuracyPlot(_ history: [EpochMetrics], title: String) -> LinePlot {
        var series = [LinePlot.Series(label: "train", points: history.map { (Double($0.epoch), $0.trainAccuracy * 100) })]
        let validation = history.compactMap { e in e.validation.map { (Double(e.epoch), $0.accuracy * 100) } }
        if !validation.isEmpty { series.append(LinePlot.Series(label: "validation", points: validation)) }
        let test = history.compactMap { e in e.test.map { (Double(e.epoch), $0.accuracy * 100) } }
        if !test.isEmpty { series.append(LinePlot.Series(label: "test", points: test)) }
        return LinePlot(title: title, xLabel: "epoch", yLabel: "accuracy (%)", series: series)
    }

    public static func lossPlot(_ history: [EpochMetrics], title: String) -> LinePlot {
        var series = [LinePlot.Series(label: "train", points: history.map { (Double($0.epoch), $0.trainLoss) })]
        let validation = history.compactMap { e in e.validation.map { (Double(e.epoch), $0.loss) } }
        if !validation.isEmpty { series.append(LinePlot.Series(label: "validation", points: validation)) }
        let test = history.compactMap { e in e.test.map { (Double(e.epoch), $0.loss) } }
        if !test.isEmpty { series.append(LinePlot.Series(label: "test", points: test)) }
        return LinePlot(title: title, xLabel: "epoch", yLabel: "loss", series: series)
    }
}

extension SensitivityProfile {
    /// Accuracy drop (points) against ratio, one line per group.
    public func plot(title: String) -> LinePlot {
        LinePlot(title: title, xLabel: "fraction of the group's channels removed", yLabel: "accuracy drop (points)",
                 series: groups.map { g in
                     LinePlot.Series(label: g.name, points: [(0, 0)] + zip(ratios, g.accuracy).map { ($0, (baseline - $1) * 100) })
                 })
    }
}
