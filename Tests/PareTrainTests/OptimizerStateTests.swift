import PareCore
import PareTrain
import XCTest

/// Saving and restoring optimizer state: a restored optimizer continues exactly as the
/// original would have.
final class OptimizerStateTests: XCTestCase {
    static let gradients: [[String: [Float]]] = [
        ["conv.weight": [0.5, -1.5, 2.0, 0.25], "fc.bias": [0.75]],
        ["conv.weight": [-0.1, 0.2, -0.05, 0.3], "fc.bias": [-0.5]],
        ["conv.weight": [0.02, -0.04, 0.06, -0.08]],  // fc.bias has no gradient this step
        ["conv.weight": [0.3, 0.001, -0.2, 0.0], "fc.bias": [0.125]],
    ]

    func parameters() -> [String: Tensor] {
        ["conv.weight": tensor([1, -2, 0.5, 3], shape: [2, 2]), "fc.bias": tensor([-0.25])]
    }

    func step(_ optimizer: any Optimizer, _ parameters: [String: Tensor], _ index: Int) throws {
        let gradients = Self.gradients[index].mapValues { values in
            tensor(values, shape: values.count == 4 ? [2, 2] : [1])
        }
        try optimizer.step(parameters: parameters, gradients: gradients)
    }

    /// Two steps, save, restore into a fresh optimizer, two more steps on both: identical
    /// bits. The saved tensors are copies: changing them afterwards changes nothing.
    func checkRoundTrip(_ make: () -> any Optimizer, _ label: String, expectedNames: Set<String>) throws {
        let original = make()
        let parameters = parameters()
        try step(original, parameters, 0)
        try step(original, parameters, 1)
        let saved = original.stateTensors()
        XCTAssertEqual(Set(saved.keys), expectedNames, label)

        let restored = make()
        var file = saved
        file["conv.weight"] = parameters["conv.weight"]!.copy()  // weights in the same file are ignored
        try restored.loadState(file)
        for tensor in saved.values { tensor.floats[0] = 1e6 }  // the restored state must not share storage
        let restoredParameters = copies(parameters)
        for index in 2..<4 {
            try step(original, parameters, index)
            try step(restored, restoredParameters, index)
        }
        for name in parameters.keys {
            XCTAssertEqual(parameters[name]!.scalars.map(\.bitPattern), restoredParameters[name]!.scalars.map(\.bitPattern),
                           "\(label): \(name)")
        }
        let finalOriginal = original.stateTensors(), finalRestored = restored.stateTensors()
        XCTAssertEqual(Set(finalOriginal.keys), Set(finalRestored.keys), label)
        for (name, tensor) in finalOriginal {
            XCTAssertEqual(tensor.shape, finalRestored[name]?.shape, "\(label): \(name)")
            XCTAssertEqual(tensor.scalars, finalRestored[name]?.scalars, "\(label): \(name)")
        }
    }

    func testSGDRoundTrip() throws {
        try checkRoundTrip({ SGD(learningRate: 0.1, momentum: 0.9, weightDecay: 5e-4, nesterov: true) }, "SGD",
                           expectedNames: ["momentum/conv.weight", "momentum/fc.bias"])
        try checkRoundTrip({ SGD(learningRate: 0.1, weightDecay: 5e-4) }, "SGD without momentum", expectedNames: [])
    }

    func testAdamRoundTrip() throws {
        try checkRoundTrip({ Adam(learningRate: 0.1, weightDecay: 0.01) }, "Adam", expectedNames: [
            "exp_avg/conv.weight", "exp_avg_sq/conv.weight", "step/conv.weight",
            "exp_avg/fc.bias", "exp_avg_sq/fc.bias", "step/fc.bias",
        ])
    }

    func testAdamWAmsgradRoundTrip() throws {
        try checkRoundTrip({ AdamW(learningRate: 0.1, betas: (0.8, 0.99), amsgrad: true) }, "AdamW amsgrad", expectedNames: [
            "exp_avg/conv.weight", "exp_avg_sq/conv.weight", "max_exp_avg_sq/conv.weight", "step/conv.weight",
            "exp_avg/fc.bias", "exp_avg_sq/fc.bias", "max_exp_avg_sq/fc.bias", "step/fc.bias",
        ])
    }

    func testAdamStateTensorsMatchTorchLayout() throws {
        let adam = Adam(learningRate: 0.1)
        let parameters = parameters()
        try step(adam, parameters, 0)
        try step(adam, parameters, 1)
        try step(adam, parameters, 2)
        let state = adam.stateTensors()
        XCTAssertEqual(state["exp_avg/conv.weight"]?.shape, [2, 2])
        XCTAssertEqual(state["step/conv.weight"]?.shape, [1])
        XCTAssertEqual(state["step/conv.weight"]?.dtype, .f32)
        XCTAssertEqual(state["step/conv.weight"]?.scalars, [3])
        XCTAssertEqual(state["step/fc.bias"]?.scalars, [2])
    }

    func testAdamLoadStateRejectsIncompleteOrInconsistentEntries() throws {
        let source = Adam(learningRate: 0.1)
        try step(source, parameters(), 0)
        let good = source.stateTensors()

        func rejects(_ tensors: [String: Tensor], into adam: Adam = Adam(), _ message: String, line: UInt = #line) {
            XCTAssertThrowsError(try adam.loadState(tensors), line: line) { error in
                guard case let .invalidState(reason) = error as? OptimizerError else {
                    return XCTFail("\(error)", line: line)
                }
                XCTAssertTrue(reason.hasPrefix(message), "\(reason)", line: line)
            }
        }
        var missing = good
        missing["exp_avg_sq/fc.bias"] = nil
        rejects(missing, "missing 'exp_avg_sq/fc.bias'")
        var stepless = good
        stepless["step/conv.weight"] = nil
        rejects(stepless, "missing 'step/conv.weight'")
        rejects(good, into: Adam(amsgrad: true), "missing 'max_exp_avg_sq/conv.weight'")
        var misshaped = good
        misshaped["exp_avg_sq/conv.weight"] = Tensor(zeros: [4])
        rejects(misshaped, "'exp_avg_sq/conv.weight' has shape 4, 'exp_avg/conv.weight' has 2x2")
        var fractional = good
        fractional["step/fc.bias"] = tensor([1.5])
        rejects(fractional, "'step/fc.bias' must hold one whole number ≥ 1")
        var integer = good
        integer["step/fc.bias"] = Tensor(zeros: [1], dtype: .i64)
        rejects(integer, "'step/fc.bias' is i64, expected f32")

        // A failed load leaves the state as it was.
        let adam = Adam()
        try adam.loadState(good)
        XCTAssertThrowsError(try adam.loadState(missing))
        XCTAssertEqual(Set(adam.stateTensors().keys), Set(good.keys))
    }

    func testStateOfAnotherShapeThrowsAtTheNextStep() throws {
        let parameter = tensor([1, 2, 3, 4], shape: [2, 2])
        let sgd = SGD(learningRate: 0.1, momentum: 0.9)
        try sgd.loadState(["momentum/w": Tensor(zeros: [4])])
        let adam = Adam()
        try adam.loadState(["exp_avg/w": Tensor(zeros: [3]), "exp_avg_sq/w": Tensor(zeros: [3]), "step/w": tensor([1])])
        for optimizer in [sgd, adam] as [any Optimizer] {
            XCTAssertThrowsError(try optimizer.step(parameters: ["w": parameter],
                                                    gradients: ["w": tensor([1, 1, 1, 1], shape: [2, 2])])) { error in
                XCTAssertTrue(String(describing: error).contains("has shape"), "\(error)")
            }
            XCTAssertEqual(parameter.scalars, [1, 2, 3, 4])
        }
    }
}
