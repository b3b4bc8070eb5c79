import PareCore
import PareTrain
import XCTest

final class SGDTests: XCTestCase {
    func testNesterovMomentumWithWeightDecayThreeSteps() throws {
        // lr 0.1, momentum 0.9, weight decay 0.01, Nesterov; p = [1, -2].
        // Step 1, g = [0.5, 0.25]: d = g + 0.01 p = [0.51, 0.23]; buffer = d;
        //   direction = d + 0.9 buffer = [0.969, 0.437]; p = [0.9031, -2.0437].
        // Step 2, g = [-1, 0.5]: d = [-0.990969, 0.479563];
        //   buffer = 0.9 * [0.51, 0.23] + d = [-0.531969, 0.686563];
        //   direction = d + 0.9 buffer = [-1.4697411, 1.0974697]; p = [1.05007411, -2.15344697].
        // Step 3, g = [0.25, -0.75]: d = [0.26050074, -0.77153447];
        //   buffer = 0.9 * buffer + d = [-0.21827136, -0.15362777];
        //   direction = d + 0.9 buffer = [0.06405652, -0.90979946]; p = [1.04366846, -2.06246702].
        let parameter = try Tensor(shape: [2], values: [1, -2])
        let optimizer = SGD(learningRate: 0.1, momentum: 0.9, weightDecay: 0.01, nesterov: true)
        let expected: [[Float]] = [[0.9031, -2.0437], [1.05007411, -2.15344697], [1.04366846, -2.06246702]]
        for (gradient, after) in zip([[0.5, 0.25], [-1, 0.5], [0.25, -0.75]] as [[Float]], expected) {
            try optimizer.step(parameters: ["w": parameter], gradients: ["w": Tensor(shape: [2], values: gradient)])
            XCTAssertEqual(parameter.scalars[0], after[0], accuracy: 1e-6)
            XCTAssertEqual(parameter.scalars[1], after[1], accuracy: 1e-6)
        }
        let buffer = try XCTUnwrap(optimizer.momentumBuffers["w"]).scalars
        XCTAssertEqual(buffer[0], -0.21827136, accuracy: 1e-6)
        XCTAssertEqual(buffer[1], -0.15362777, accuracy: 1e-6)
    }

    func testPlainMomentumTwoSteps() throws {
        // lr 0.1, momentum 0.9, p = [1, -2]. Step 1, g = [0.5, 0.25]: buffer = g, p = [0.95, -2.025].
        // Step 2, g = [-1, 0.5]: buffer = 0.9 * [0.5, 0.25] + g = [-0.55, 0.725]; p = [1.005, -2.0975].
        let parameter = try Tensor(shape: [2], values: [1, -2])
        let optimizer = SGD(learningRate: 0.1, momentum: 0.9)
        try optimizer.step(parameters: ["w": parameter], gradients: ["w": Tensor(shape: [2], values: [0.5, 0.25])])
        try optimizer.step(parameters: ["w": parameter], gradients: ["w": Tensor(shape: [2], values: [-1, 0.5])])
        XCTAssertEqual(parameter.scalars[0], 1.005, accuracy: 1e-6)
        XCTAssertEqual(parameter.scalars[1], -2.0975, accuracy: 1e-6)
    }

    func testPlainSGDWithWeightDecayAndBuffersByName() throws {
        // lr 0.5, weight decay 0.1, no momentum: a = 2 - 0.5 * (1 + 0.1 * 2) = 1.4; b has no
        // gradient (a buffer) and is left alone; no momentum buffer is kept.
        let a = try Tensor(shape: [1], values: [2]), b = try Tensor(shape: [1], values: [3])
        let optimizer = SGD(learningRate: 0.5, weightDecay: 0.1)
        try optimizer.step(parameters: ["a": a, "b": b], gradients: ["a": Tensor(shape: [1], values: [1])])
        XCTAssertEqual(a.scalars[0], 1.4, accuracy: 1e-6)
        XCTAssertEqual(b.scalars, [3])
        XCTAssertTrue(optimizer.momentumBuffers.isEmpty)

        let withMomentum = SGD(learningRate: 0.1, momentum: 0.5)
        try withMomentum.step(parameters: ["a": a, "b": b], gradients: ["b": Tensor(shape: [1], values: [1])])
        XCTAssertEqual(Array(withMomentum.momentumBuffers.keys), ["b"])
    }

    func testMismatchedGradientsThrow() throws {
        let parameter = try Tensor(shape: [2], values: [1, 2])
        let optimizer = SGD(learningRate: 0.1)
        XCTAssertThrowsError(try optimizer.step(parameters: ["w": parameter],
                                                gradients: ["v": Tensor(shape: [2], values: [1, 1])])) { error in
            XCTAssertEqual(error as? OptimizerError, .unknownParameter("v"))
        }
        XCTAssertThrowsError(try optimizer.step(parameters: ["w": parameter],
                                                gradients: ["w": Tensor(shape: [1], values: [1])]))
        XCTAssertEqual(parameter.scalars, [1, 2])
    }
}
