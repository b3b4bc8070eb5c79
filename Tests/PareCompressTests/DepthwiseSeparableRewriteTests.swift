import PareCore
import PareModels
import XCTest

@testable import PareCompress

final class DepthwiseSeparableRewriteTests: XCTestCase {
    /// ‖W − Ŵ‖² where Ŵ[o, c, t] = pointwise[o, c] · depthwise[c, t].
    private func squaredError(_ w: Tensor, _ dw: [Double], _ pw: [Double]) -> Double {
        let s = w.shape.dimensions
        let (cout, cin, k2) = (s[0], s[1], s[2] * s[3])
        var total = 0.0
        for o in 0..<cout { for c in 0..<cin { for t in 0..<k2 {
            let d = Double(w.floats[(o * cin + c) * k2 + t]) - pw[o * cin + c] * dw[c * k2 + t]
            total += d * d
        } } }
        return total
    }

    func testInitialisationIsTheLeastSquaresPair() throws {
        let graph = try singleLayer(.conv2d(Conv2dAttributes(outChannels: 5, kernelSize: [3, 3], padding: Padding2d(1))),
                                    input: [3, 6, 6], seed: 2)
        let w = graph.parameters["layer.weight"]!
        let (dwTensor, pwTensor) = try DepthwiseSeparableRewrite.factors(w)
        XCTAssertEqual(dwTensor.shape, [3, 1, 3, 3])
        XCTAssertEqual(pwTensor.shape, [5, 3, 1, 1])
        let dw = dwTensor.floats.map(Double.init), pw = pwTensor.floats.map(Double.init)
        // The discarded energy, from an independent route: eigenvalues of each slice's Gram matrix.
        var discarded = 0.0
        for c in 0..<3 {
            var gram = Matrix(zeros: 9, 9)
            for o in 0..<5 { for i in 0..<9 { for j in 0..<9 {
                gram[i, j] += Double(w.floats[(o * 3 + c) * 9 + i]) * Double(w.floats[(o * 3 + c) * 9 + j])
            } } }
            discarded += try SymmetricEigendecomposition(gram).values.dropFirst().reduce(0, +)
        }
        let error = squaredError(w, dw, pw)
        XCTAssertEqual(error, discarded, accuracy: 1e-5 * discarded, "reconstruction error = Σ discarded σ²")
        var generator = SeededGenerator(seed: 9)
        for trial in 0..<50 {
            let scale = trial < 25 ? 1e-2 : 1e-4
            let dw2 = dw.map { $0 + scale * Double(generator.nextNormal()) }
            let pw2 = pw.map { $0 + scale * Double(generator.nextNormal()) }
            XCTAssertGreaterThanOrEqual(squaredError(w, dw2, pw2), error * (1 - 1e-6), "perturbation \(trial) did better")
        }
    }

    func testOutputIsTheConvolutionWithTheRankOneWeight() throws {
        let a = Conv2dAttributes(outChannels: 6, kernelSize: [3, 3], stride: [2, 2], padding: Padding2d(1), bias: true)
        let graph = try singleLayer(.conv2d(a), input: [4, 9, 9], seed: 3)
        let result = try DepthwiseSeparableRewrite.apply(graph)
        XCTAssertEqual(result.graph.nodes.map(\.name), ["input", "layer.depthwise", "layer.pointwise"])
        guard case let .conv2d(dw) = result.graph.nodes[1].op else { return XCTFail("depthwise is not a conv") }
        XCTAssertEqual(dw.groups, 4); XCTAssertEqual(dw.stride, [2, 2]); XCTAssertEqual(dw.padding, Padding2d(1))
        XCTAssertNotNil(result.graph.parameters["layer.pointwise.bias"])
        // The same map as a dense conv with Ŵ[o, c] = pw[o, c] · dw[c].
        var dense = graph
        let dwW = result.graph.parameters["layer.depthwise.weight"]!, pwW = result.graph.parameters["layer.pointwise.weight"]!
        let product = Tensor(zeros: [6, 4, 3, 3])
        for o in 0..<6 { for c in 0..<4 { for t in 0..<9 { product.floats[(o * 4 + c) * 9 + t] = pwW.floats[o * 4 + c] * dwW.floats[c * 9 + t] } } }
        dense.parameters["layer.weight"] = product
        let x = normalInput([2, 4, 9, 9], seed: 4)
        assertCloseRelative(try inferenceOutput(result.graph, x), try inferenceOutput(dense, x), rtol: 1e-5, "dw+pw vs rank-1 conv")
        let record = try XCTUnwrap(result.records.first)
        XCTAssertEqual(record.parametersBefore, 6 * 4 * 9 + 6)
        XCTAssertEqual(record.parametersAfter, 4 * 9 + 6 * 4 + 6)
        XCTAssertEqual(record.macsBefore, 6 * 5 * 5 * 4 * 9)
        XCTAssertEqual(record.macsAfter, 4 * 5 * 5 * 9 + 6 * 5 * 5 * 4)
        let error = try XCTUnwrap(record.relativeError)
        XCTAssertGreaterThan(error, 0.05, "a random 3x3 weight is not rank 1 per channel")
        XCTAssertLessThan(error, 1)
    }

    /// The seed's depthwise-separable ResNet-18 (11 classes, every 3x3 conv but conv1, batch
    /// norm and ReLU between): 1,454,603 trainable parameters, from 11,182,155.
    func testResNet18SeedCount() throws {
        let graph = try Zoo.build("resnet18", options: ZooOptions(classes: 11, input: [3, 32, 32]))
        XCTAssertEqual(try graph.trainableParameterCount(), 11_182_155)
        let result = try DepthwiseSeparableRewrite.apply(graph, withBatchNorm: true, selection: RewriteSelection(skip: ["conv1"]),
                                                         measurement: RewriteMeasurement(measureError: false))
        XCTAssertEqual(try result.graph.trainableParameterCount(), 1_454_603)
        XCTAssertEqual(result.records.count, 16)
        XCTAssertEqual(result.records.first?.replacement,
                       ["layer1.0.conv1.depthwise", "layer1.0.conv1.bn", "layer1.0.conv1.relu", "layer1.0.conv1.pointwise"])
        XCTAssertEqual(result.skipped.map(\.node), ["layer2.0.downsample.0", "layer3.0.downsample.0", "layer4.0.downsample.0"])
        XCTAssertTrue(result.skipped.allSatisfy { $0.reason.contains("1x1") })
        XCTAssertFalse(result.records.contains { $0.node == "conv1" })
        let bn = result.graph.parameters["layer1.0.conv1.bn.weight"]!
        XCTAssertTrue(bn.floats.allSatisfy { $0 == 1 })
    }

    func testSelectionErrors() throws {
        let graph = try smallRewriteModel()
        // A 1x1 conv named exactly by --only is an error; matched by a pattern it is skipped.
        XCTAssertThrowsError(try DepthwiseSeparableRewrite.apply(graph, selection: RewriteSelection(only: ["head"]))) { error in
            XCTAssertTrue("\(error)".contains("head") && "\(error)".contains("1x1"), "\(error)")
        }
        XCTAssertThrowsError(try DepthwiseSeparableRewrite.apply(graph, selection: RewriteSelection(only: ["layer9.*"]))) { error in
            XCTAssertTrue("\(error)".contains("'layer9.*'"), "\(error)")
        }
        let layer1 = try DepthwiseSeparableRewrite.apply(graph, selection: RewriteSelection(only: ["layer1.*"], skip: ["*.conv2"]))
        XCTAssertEqual(layer1.records.map(\.node), ["layer1.0.conv1", "layer1.1.conv1"])
        let byKind = try DepthwiseSeparableRewrite.apply(graph, selection: RewriteSelection(kinds: ["conv5x5"]))
        XCTAssertEqual(byKind.records.map(\.node), ["wide"])
        XCTAssertTrue(RewriteSelection.matches("layer*.conv?", "layer1.0.conv?"))
        XCTAssertFalse(RewriteSelection.matches("layer3.*", "layer1.0.conv1"))
        XCTAssertTrue(RewriteSelection.matches("*", ""))
    }
}
