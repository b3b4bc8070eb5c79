import PareCore
import PareModels
import PareTrain
import XCTest

@testable import PareCompress

/// Each criterion on a case small enough to compute by hand: conv1 (3 filters over 2 input
/// channels, 1x1) -> bn1 -> relu -> conv2 (2 filters) -> flatten -> fc.
final class PruningCriterionTests: XCTestCase {
    private func model() throws -> Graph {
        var b = GraphBuilder()
        var x = b.input([2, 2, 2])
        x = b.conv2d(x, "conv1", outChannels: 3, kernelSize: 1, bias: false)
        x = b.relu(b.batchNorm(x, "bn1"))
        x = b.conv2d(x, "conv2", outChannels: 2, kernelSize: 1, bias: false)
        x = b.linear(b.flatten(b.globalAvgPool(x)), "fc", outFeatures: 2)
        var graph = try b.build(outputs: [x], seed: 0)
        graph.parameters["conv1.weight"] = try Tensor(shape: [3, 2, 1, 1], values: [1, -2, 0.5, 0.5, -3, 1])
        graph.parameters["bn1.weight"] = try Tensor(shape: [3], values: [0.1, -2, 1])
        graph.parameters["conv2.weight"] = try Tensor(shape: [2, 3, 1, 1], values: [1, 0, 2, -1, 1, 0])
        return graph
    }

    private func scores(_ criterion: PruningCriterion, data: CalibrationData? = nil, seed: UInt64 = 0) throws -> [Double] {
        let analysis = try ChannelAnalysis(try model())
        let group = analysis.groups.first { $0.producers == ["conv1"] }!
        return try XCTUnwrap(try ChannelImportance.scores(criterion, analysis: analysis, data: data, seed: seed)[group.id])
    }

    func testL1SumsRowsScalesAndColumnsOverTheGroup() throws {
        // conv1 rows |1|+|-2|, |0.5|+|0.5|, |-3|+|1|; bn |γ|; conv2 columns |1|+|-1|, |0|+|1|, |2|+|0|.
        let expected: [Double] = [5.1, 4, 7]
        for (a, e) in zip(try scores(.l1), expected) { XCTAssertEqual(a, e, accuracy: 1e-6) }
        // conv2's group: its rows and fc's columns (flatten after global pooling: one feature each).
        let graph = try model()
        let analysis = try ChannelAnalysis(graph)
        let conv2 = analysis.groups.first { $0.producers == ["conv2"] }!
        let fc = graph.parameters["fc.weight"]!.scalars  // [2, 2]
        let columns = [Double(abs(fc[0]) + abs(fc[2])), Double(abs(fc[1]) + abs(fc[3]))]
        let l1 = try XCTUnwrap(try ChannelImportance.scores(.l1, analysis: analysis)[conv2.id])
        for (a, e) in zip(l1, [3 + columns[0], 2 + columns[1]]) { XCTAssertEqual(a, e, accuracy: 1e-6) }
    }

    func testL2IsTheNormOfTheSameSlices() throws {
        let squares: [Double] = [7.01, 5.5, 15]  // 1+4+0.01+1+1, 0.25+0.25+4+0+1, 9+1+1+4+0
        let expected = squares.map { $0.squareRoot() }
        for (a, e) in zip(try scores(.l2), expected) { XCTAssertEqual(a, e, accuracy: 1e-6) }
    }

    func testBatchNormGammaIsItsMagnitude() throws {
        let s = try scores(.bnGamma)
        for (a, e) in zip(s, [0.1, 2, 1]) { XCTAssertEqual(a, e, accuracy: 1e-7) }
        // A group without a batch norm is not scored, so it is left whole.
        let analysis = try ChannelAnalysis(try model())
        let conv2 = analysis.groups.first { $0.producers == ["conv2"] }!
        XCTAssertNil(try ChannelImportance.scores(.bnGamma, analysis: analysis)[conv2.id])
    }

    func testFPGMSumsDistancesToTheLayersOtherFilters() throws {
        let rows: [[Double]] = [[1, -2], [0.5, 0.5], [-3, 1]]
        func d(_ a: [Double], _ b: [Double]) -> Double { zip(a, b).map { ($0 - $1) * ($0 - $1) }.reduce(0, +).squareRoot() }
        let expected = rows.indices.map { i in rows.indices.filter { $0 != i }.map { d(rows[i], rows[$0]) }.reduce(0, +) }
        for (a, e) in zip(try scores(.fpgm), expected) { XCTAssertEqual(a, e, accuracy: 1e-6) }
    }

    func testRandomIsSeeded() throws {
        XCTAssertEqual(try scores(.random, seed: 4), try scores(.random, seed: 4))
        XCTAssertNotEqual(try scores(.random, seed: 4), try scores(.random, seed: 5))
    }

    /// Images whose channel 0 is the pixel value v and channel 1 is 0: conv1 sends channel 0
    /// to its three outputs with weights 1, 0.5, -3.
    private func calibration(_ values: [[Float]]) throws -> CalibrationData {
        CalibrationData(batches: try values.map { batch in
            let pixels: [Float] = batch.flatMap { (v: Float) -> [Float] in [v, v, v, v, 0, 0, 0, 0] }
            return (try Tensor(shape: [batch.count, 2, 2, 2], values: pixels), batch.map { _ in 0 })
        })
    }

    func testMeanActivationAndAPoZCountTheReLUsOutputs() throws {
        var graph = try model()
        // Batch norm that does nothing (γ 1, β 0, mean 0, var 1 - eps).
        graph.parameters["bn1.weight"] = Tensor(repeating: 1, shape: [3])
        graph.parameters["bn1.running_var"] = Tensor(repeating: 1 - 1e-5, shape: [3])
        let analysis = try ChannelAnalysis(graph)
        let group = analysis.groups.first { $0.producers == ["conv1"] }!
        let values: [[Float]] = [[1, -1, 2], [0.5, -2, 3]]
        let data = try calibration(values)
        let all = values.flatMap { $0 }
        let weights: [Float] = [1, 0.5, -3]
        let means = weights.map { w in Double(all.map { max(0, w * $0) }.reduce(0, +)) / Double(all.count) }
        let nonZero = weights.map { w in Double(all.filter { w * $0 > 0 }.count) / Double(all.count) }
        let mean = try XCTUnwrap(try ChannelImportance.scores(.meanActivation, analysis: analysis, data: data)[group.id])
        for (a, e) in zip(mean, means) { XCTAssertEqual(a, e, accuracy: 1e-5) }
        let apoz = try XCTUnwrap(try ChannelImportance.scores(.apoz, analysis: analysis, data: data)[group.id])
        for (a, e) in zip(apoz, nonZero) { XCTAssertEqual(a, e, accuracy: 1e-9) }
        XCTAssertThrowsError(try ChannelImportance.scores(.apoz, analysis: analysis)) {
            XCTAssertTrue("\($0)".contains("needs calibration data"), "\($0)")
        }
    }

    func testTaylorSumsWeightTimesGradientOverTheSlices() throws {
        let graph = try model()
        let analysis = try ChannelAnalysis(graph)
        let group = analysis.groups.first { $0.producers == ["conv1"] }!
        let data = try calibration([[1, -1, 2], [0.5, -2, 3]])
        // The gradients from the reference executor, summed over the batches.
        var sums: [String: [Float]] = [:]
        for batch in data.batches {
            var copy = graph
            copy.parameters = graph.parameters.mapValues { $0.copy() }
            let reference = try ReferenceExecutor(graph: copy, batchSize: batch.images.shape[0], mode: .training)
            let logits = try reference.forward([batch.images])[0]
            let (_, dLogits) = try softmaxCrossEntropy(logits: logits, labels: batch.labels)
            try reference.backward([dLogits])
            for (name, g) in reference.parameterGradients {
                sums[name] = zip(sums[name] ?? Array(repeating: 0, count: g.elementCount), g.scalars).map(+)
            }
        }
        let w1 = graph.parameters["conv1.weight"]!.scalars, g1 = sums["conv1.weight"]!
        let gamma = graph.parameters["bn1.weight"]!.scalars, gg = sums["bn1.weight"]!
        let w2 = graph.parameters["conv2.weight"]!.scalars, g2 = sums["conv2.weight"]!
        let expected = (0..<3).map { c -> Double in
            var s = Double(abs(w1[2 * c] * g1[2 * c])) + Double(abs(w1[2 * c + 1] * g1[2 * c + 1]))
            s += Double(abs(gamma[c] * gg[c]))
            s += Double(abs(w2[c] * g2[c])) + Double(abs(w2[3 + c] * g2[3 + c]))
            return s
        }
        let taylor = try XCTUnwrap(try ChannelImportance.scores(.taylor, analysis: analysis, data: data)[group.id])
        for (a, e) in zip(taylor, expected) { XCTAssertEqual(a, e, accuracy: 1e-4 * max(1, e)) }
        XCTAssertTrue(expected.contains { $0 > 1e-3 }, "the case has gradients")
    }
}
