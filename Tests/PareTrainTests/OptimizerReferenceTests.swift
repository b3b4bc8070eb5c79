import PareCore
import PareTrain
import XCTest

/// Adam, AdamW and SGD for four steps against PyTorch 2.13 (CPU). The expected values are
/// printed by `Fixtures/torch_reference.py`: a parameter `P0` stepped with `GRADIENTS`, e.g.
///
/// ```
/// p = torch.nn.Parameter(torch.tensor(P0)); opt = torch.optim.Adam([p], lr=0.1)
/// for g in GRADIENTS: p.grad = torch.tensor(g); opt.step(); print(p)
/// ```
///
/// Tolerance: a few f32 ulps. Torch's CPU `sqrt` is not correctly rounded, so bit equality
/// is not on offer; any error in the formulas (bias correction, decay, amsgrad) shows up
/// orders of magnitude above this.
final class OptimizerReferenceTests: XCTestCase {
    static let initial: [Float] = [1.0, -2.0, 0.5, 3.0, -0.25]
    /// Large first gradients, then small ones, so that amsgrad's running maximum matters.
    static let gradients: [[Float]] = [
        [0.5, -1.5, 2.0, 0.25, -0.75],
        [-0.1, 0.2, -0.05, 0.3, 0.01],
        [0.02, -0.04, 0.06, -0.08, 0.1],
        [0.3, 0.001, -0.2, 0.0, 0.05],
    ]

    /// Steps a fresh parameter with every gradient, checking the parameter after each step.
    func check(_ optimizer: any Optimizer, _ label: String, expected: [[Float]],
               file: StaticString = #filePath, line: UInt = #line) throws {
        let parameter = tensor(Self.initial)
        for (index, (gradient, after)) in zip(Self.gradients, expected).enumerated() {
            try optimizer.step(parameters: ["w": parameter], gradients: ["w": tensor(gradient)])
            assertClose(parameter.scalars, after, atol: 5e-7, rtol: 1e-6, "\(label) step \(index + 1)", file: file, line: line)
        }
    }

    func testAdam() throws {
        // torch.optim.Adam([p], lr=0.1)
        let adam = Adam(learningRate: 0.1)
        try check(adam, "Adam", expected: [
            [0.900000036, -1.89999998, 0.400000006, 2.9000001, -0.150000006],
            [0.848897457, -1.84342217, 0.334875822, 2.79993868, -0.0839927346],
            [0.806919217, -1.79801297, 0.282640398, 2.73699594, -0.0418676771],
            [0.74780345, -1.76085496, 0.245851651, 2.68543696, -0.0112738702],
        ])
        let state = try XCTUnwrap(adam.parameterStates["w"])
        XCTAssertEqual(state.step, 4)
        assertClose(state.firstMoment.scalars, [0.0601500012, -0.0966500044, 0.127149999, 0.0353250019, -0.039865002],
                    atol: 1e-8, rtol: 1e-6, "exp_avg")
        assertClose(state.secondMoment.scalars,
                    [0.000349630369, 0.00228477595, 0.00403410336, 0.000158526396, 0.000573403959],
                    atol: 1e-10, rtol: 1e-6, "exp_avg_sq")
        XCTAssertNil(state.maxSecondMoment)
    }

    func testAdamWithL2WeightDecayAndAmsgrad() throws {
        // torch.optim.Adam([p], lr=0.05, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1, amsgrad=True)
        let adam = Adam(learningRate: 0.05, betas: (0.8, 0.99), epsilon: 1e-6, weightDecay: 0.1, amsgrad: true)
        try check(adam, "Adam amsgrad", expected: [
            [0.950000107, -1.95000005, 0.450000018, 2.95000005, -0.200000063],
            [0.918978453, -1.91876698, 0.418747306, 2.89983034, -0.168146193],
            [0.890239835, -1.89143121, 0.394459277, 2.85573459, -0.14897038],
            [0.853507996, -1.86690223, 0.378593862, 2.81285572, -0.135888249],
        ])
        let state = try XCTUnwrap(adam.parameterStates["w"])
        assertClose(state.secondMoment.scalars, [0.00513067748, 0.0289281588, 0.0411375798, 0.00765699521, 0.00590966595],
                    atol: 1e-10, rtol: 1e-6, "exp_avg_sq")
        assertClose(try XCTUnwrap(state.maxSecondMoment).scalars,
                    [0.00513067748, 0.0289281588, 0.0420249961, 0.00765699521, 0.00600624923],
                    atol: 1e-10, rtol: 1e-6, "max_exp_avg_sq")
    }

    func testAdamWithBeta1BelowOneHalf() throws {
        // torch.optim.Adam([p], lr=0.1, betas=(0.3, 0.999)): torch's lerp takes its other branch.
        try check(Adam(learningRate: 0.1, betas: (0.3, 0.999)), "Adam beta1 0.3", expected: [
            [0.900000036, -1.89999998, 0.400000006, 2.9000001, -0.150000006],
            [0.889330268, -1.88202369, 0.370085835, 2.79554057, -0.11880976],
            [0.880779564, -1.87255287, 0.356071115, 2.78537941, -0.124658443],
            [0.80671823, -1.86942708, 0.36537528, 2.78192568, -0.135954708],
        ])
    }

    func testAdamW() throws {
        // torch.optim.AdamW([p], lr=0.1, weight_decay=0.1): the moments are Adam's (same
        // exp_avg as testAdam), only the weights are decayed.
        let adamW = AdamW(learningRate: 0.1, weightDecay: 0.1)
        try check(adamW, "AdamW", expected: [
            [0.890000045, -1.88, 0.395000011, 2.87000012, -0.147500008],
            [0.82999748, -1.80462217, 0.325925827, 2.74123883, -0.0800177455],
            [0.779719293, -1.74116671, 0.270431161, 2.65088367, -0.0370925106],
            [0.712806344, -1.68659699, 0.230938092, 2.5728159, -0.0061277803],
        ])
        assertClose(try XCTUnwrap(adamW.parameterStates["w"]).firstMoment.scalars,
                    [0.0601500012, -0.0966500044, 0.127149999, 0.0353250019, -0.039865002], atol: 1e-8, rtol: 1e-6, "exp_avg")
    }

    func testAdamWDefaultWeightDecayWithAmsgrad() throws {
        // torch.optim.AdamW([p], lr=0.01, betas=(0.5, 0.9), amsgrad=True): weight_decay defaults to 1e-2.
        let adamW = AdamW(learningRate: 0.01, betas: (0.5, 0.9), amsgrad: true)
        XCTAssertEqual(adamW.weightDecay, 0.01)
        try check(adamW, "AdamW amsgrad", expected: [
            [0.989899993, -1.98979998, 0.489950001, 2.98970008, -0.23997499],
            [0.987044156, -1.98623157, 0.485536069, 2.97918868, -0.235478833],
            [0.985158145, -1.98405755, 0.482971162, 2.97563148, -0.234420508],
            [0.978572667, -1.98282719, 0.482589036, 2.97362065, -0.234512463],
        ])
        assertClose(try XCTUnwrap(adamW.parameterStates["w"]?.maxSecondMoment).scalars,
                    [0.0280709993, 0.225000009, 0.400000006, 0.0146250008, 0.0562500022], atol: 1e-10, rtol: 1e-6,
                    "max_exp_avg_sq")
    }

    func testSGDNesterovWithWeightDecay() throws {
        // torch.optim.SGD([p], lr=0.1, momentum=0.9, weight_decay=5e-4, nesterov=True)
        let sgd = SGD(learningRate: 0.1, momentum: 0.9, weightDecay: 5e-4, nesterov: true)
        try check(sgd, "SGD", expected: [
            [0.904905021, -1.71481001, 0.119952485, 2.95221496, -0.107476257],
            [0.883278549, -1.63106608, -0.032579165, 2.87456298, -0.0486059301],
            [0.85097152, -1.53001881, -0.185749158, 2.84673595, -0.0137228537],
            [0.766654134, -1.44279432, -0.280185968, 2.81435061, 0.0171710327],
        ])
        assertClose(try XCTUnwrap(sgd.momentumBuffers["w"]).scalars,
                    [0.603053927, -0.969422638, 1.27162325, 0.358256072, -0.398813337], atol: 1e-7, rtol: 1e-6,
                    "momentum_buffer")
    }

    func testAdamStepCountsAreKeptPerParameter() throws {
        // As torch: a parameter without a gradient in a step does not advance its count, so
        // its bias correction is that of its own first step.
        let a = tensor([1, 2]), b = tensor([3])
        let adam = Adam(learningRate: 0.1)
        try adam.step(parameters: ["a": a, "b": b], gradients: ["a": tensor([1, -1])])
        try adam.step(parameters: ["a": a, "b": b], gradients: ["a": tensor([1, -1]), "b": tensor([2])])
        XCTAssertEqual(adam.parameterStates["a"]?.step, 2)
        XCTAssertEqual(adam.parameterStates["b"]?.step, 1)
        XCTAssertEqual(b.scalars[0], 2.9, accuracy: 1e-6)  // Adam's first step moves by lr * sign(g)
        XCTAssertEqual(adam.stateTensors()["step/b"]?.scalars, [1])
    }

    func testInvalidGradientsThrowBeforeAnyUpdate() throws {
        let a = tensor([1, 2]), b = tensor([3])
        for optimizer in [Adam(), AdamW(), SGD(learningRate: 0.1, momentum: 0.9)] as [any Optimizer] {
            XCTAssertThrowsError(try optimizer.step(parameters: ["a": a, "b": b],
                                                    gradients: ["a": tensor([1, 1]), "c": tensor([1])])) { error in
                XCTAssertEqual(error as? OptimizerError, .unknownParameter("c"))
            }
            XCTAssertThrowsError(try optimizer.step(parameters: ["a": a, "b": b],
                                                    gradients: ["a": tensor([1, 1]), "b": tensor([1, 1])]))
            XCTAssertEqual(a.scalars, [1, 2])
            XCTAssertEqual(b.scalars, [3])
            XCTAssertTrue(optimizer.stateTensors().isEmpty)
        }
    }
}
