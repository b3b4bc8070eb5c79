import PareCore
import PareModels
import XCTest

@testable import PareCompress

/// Scopes, ratios, rounding, ignored layers, schedules and the errors of bad settings.
final class PruningPlannerTests: XCTestCase {
    /// Two plain groups: conv1 (64 channels) and conv2 (32), then a classifier.
    private func model() throws -> (Graph, ChannelAnalysis, g1: Int, g2: Int) {
        var b = GraphBuilder()
        var x = b.input([3, 8, 8])
        x = b.relu(b.batchNorm(b.conv2d(x, "conv1", outChannels: 64, kernelSize: 3, padding: 1, bias: false), "bn1"))
        x = b.relu(b.batchNorm(b.conv2d(x, "layer2.conv", outChannels: 32, kernelSize: 3, padding: 1, bias: false), "layer2.bn"))
        x = b.linear(b.flatten(b.globalAvgPool(x)), "fc", outFeatures: 10)
        let graph = try b.build(outputs: [x], seed: 1)
        let analysis = try ChannelAnalysis(graph)
        return (graph, analysis, analysis.groups.first { $0.producers == ["conv1"] }!.id,
                analysis.groups.first { $0.producers == ["layer2.conv"] }!.id)
    }

    private func removed(_ plan: PruningPlan, _ group: Int) -> [Int] { plan.entries.first { $0.group == group }?.removed ?? [] }

    func testUniformRemovesTheLowestScoresOfEveryGroupRoundedToMultiples() throws {
        let (_, analysis, g1, g2) = try model()
        var scores = [[Double]?](repeating: nil, count: analysis.groups.count)
        scores[g1] = (0..<64).map { Double(64 - $0) }  // unit 63 is the least important
        scores[g2] = (0..<32).map { Double($0) }
        var settings = PruningSettings()
        settings.ratio = 0.3
        let plan = try PruningPlanner.plan(analysis, scores: scores, settings: settings)
        // 64 * 0.7 = 44.8 kept -> 45 -> rounded up to 48: 16 removed; 32 * 0.7 = 22.4 -> 23 -> 24: 8 removed.
        XCTAssertEqual(removed(plan, g1), Array(48..<64))
        XCTAssertEqual(removed(plan, g2), Array(0..<8))
        settings.roundTo = 1
        let exact = try PruningPlanner.plan(analysis, scores: scores, settings: settings)
        XCTAssertEqual(removed(exact, g1).count, 19)
        XCTAssertEqual(removed(exact, g2).count, 9)
    }

    func testPerLayerRatiosAndIgnoredLayers() throws {
        let (_, analysis, g1, g2) = try model()
        let scores: [[Double]?] = analysis.groups.map { g in (0..<g.units).map(Double.init) }
        var settings = PruningSettings()
        settings.ratio = 0.5
        settings.layerRatios = ["layer2": 0.75]
        var plan = try PruningPlanner.plan(analysis, scores: scores, settings: settings)
        XCTAssertEqual(removed(plan, g1).count, 32)
        XCTAssertEqual(removed(plan, g2).count, 24)
        settings.ignored = ["conv1"]
        plan = try PruningPlanner.plan(analysis, scores: scores, settings: settings)
        XCTAssertEqual(removed(plan, g1), [])
        XCTAssertEqual(removed(plan, g2).count, 24)
    }

    func testGlobalRanksAcrossGroupsAfterNormalisingAndCapsEachGroup() throws {
        let (_, analysis, g1, g2) = try model()
        var scores = [[Double]?](repeating: nil, count: analysis.groups.count)
        // conv1's scores are large but spread; layer2's are small but even: after dividing by
        // each group's mean, conv1's low half ranks below all of layer2.
        scores[g1] = (0..<64).map { $0 < 32 ? 1.0 : 100.0 }
        scores[g2] = Array(repeating: 0.01, count: 32)
        var settings = PruningSettings()
        settings.scope = .global
        settings.ratio = 32.0 / 96.0
        settings.roundTo = 1
        var plan = try PruningPlanner.plan(analysis, scores: scores, settings: settings)
        XCTAssertEqual(removed(plan, g1), Array(0..<32))
        XCTAssertEqual(removed(plan, g2), [])
        // A cap of 25% on conv1 sends the rest of the removals to layer2.
        settings.layerRatios = ["conv1": 0.25]
        plan = try PruningPlanner.plan(analysis, scores: scores, settings: settings)
        XCTAssertEqual(removed(plan, g1).count, 16)
        XCTAssertEqual(removed(plan, g2).count, 16)
    }

    func testBadSettingsNameTheProblem() throws {
        let (graph, analysis, _, _) = try model()
        let scores: [[Double]?] = analysis.groups.map { g in (0..<g.units).map(Double.init) }
        func reason(_ change: (inout PruningSettings) -> Void) -> String {
            var settings = PruningSettings()
            change(&settings)
            do {
                _ = try PruningPlanner.plan(analysis, scores: scores, settings: settings)
                return "no error"
            } catch { return "\(error)" }
        }
        XCTAssertTrue(reason { $0.ratio = 1 }.contains("outside [0, 1)"))
        XCTAssertTrue(reason { $0.ratio = -0.1 }.contains("outside [0, 1)"))
        XCTAssertTrue(reason { $0.ignored = ["layer9"] }.contains("--ignore 'layer9' names no node"))
        XCTAssertTrue(reason { $0.layerRatios = ["nope": 0.2] }.contains("--ratio 'nope' names no node"))
        XCTAssertTrue(reason { $0.layerRatios = ["conv1": 1.5] }.contains("outside [0, 1)"))
        XCTAssertTrue(reason { $0.roundTo = 0 }.contains("--round-to"))
        XCTAssertEqual(reason { $0.ignored = ["conv1"] }, "no error")
        XCTAssertThrowsError(try PruningPlanner.prune(graph, settings: { var s = PruningSettings(); s.criterion = .taylor; return s }())) {
            XCTAssertTrue("\($0)".contains("needs calibration data"), "\($0)")
        }
    }

    func testSchedulesAndTargets() throws {
        XCTAssertEqual(PruningSchedule.oneShot.cumulativeRatio(step: 1, ratio: 0.5), 0.5)
        XCTAssertEqual(PruningSchedule.steps(count: 4, geometric: false).cumulativeRatio(step: 2, ratio: 0.6), 0.3, accuracy: 1e-12)
        XCTAssertEqual(PruningSchedule.steps(count: 2, geometric: true).cumulativeRatio(step: 1, ratio: 0.75), 0.5, accuracy: 1e-12)
        XCTAssertEqual(PruningSchedule.perStep(fraction: 0.1, target: .parameters(1)).cumulativeRatio(step: 2, ratio: 0),
                       1 - 0.81, accuracy: 1e-12)
        XCTAssertEqual(try PruningTarget(parsing: "params=0.3", parameters: 1000, macs: 50), .parameters(300))
        XCTAssertEqual(try PruningTarget(parsing: "macs=1.5M", parameters: 1000, macs: 50), .macs(1_500_000))
        XCTAssertThrowsError(try PruningTarget(parsing: "size=3", parameters: 1, macs: 1))
        XCTAssertThrowsError(try PruningTarget(parsing: "params=-1", parameters: 1, macs: 1))
    }

    func testOriginalWidthsMakeSmallStepsProgressUnderRounding() throws {
        let (_, analysis, g1, _) = try model()
        let scores: [[Double]?] = analysis.groups.map { g in (0..<g.units).map(Double.init) }
        var settings = PruningSettings()
        settings.ratio = 0.05  // 64 * 0.95 = 60.8 -> 61 -> rounded to 64: nothing
        XCTAssertEqual(removed(try PruningPlanner.plan(analysis, scores: scores, settings: settings), g1), [])
        // A cumulative ratio of 0.15 from an original 64 keeps 55 -> 56: 8 removed.
        settings.ratio = 0.15
        XCTAssertEqual(removed(try PruningPlanner.plan(analysis, scores: scores, settings: settings), g1).count, 8)
    }
}
