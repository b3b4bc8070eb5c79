import PareTrain
import XCTest

/// Learning-rate schedules against `torch.optim.lr_scheduler` (PyTorch 2.13): index `i` is
/// `scheduler.get_last_lr()` after `i` calls of `scheduler.step()`, as printed by
/// `Fixtures/torch_reference.py`. Torch's rates are doubles that its optimizers round to
/// f32; ours must equal them in f32 to the last bit.
final class ScheduleTests: XCTestCase {
    func rates(_ schedule: any LearningRateSchedule, _ count: Int) -> [Float] {
        (0..<count).map { schedule.learningRate(at: $0) }
    }

    func testCosineAnnealing() {
        // CosineAnnealingLR(SGD(lr=0.1), T_max=10, eta_min=0.001), stepped past T_max.
        let torch: [Float] = [
            0.1, 0.0975772976, 0.0905463412, 0.07959537, 0.0657963412, 0.0505, 0.0352036588, 0.02140463,
            0.0104536588, 0.00342270244, 0.001, 0.00342270244, 0.0104536588, 0.02140463, 0.0352036588, 0.0505,
            0.0657963412, 0.07959537, 0.0905463412, 0.0975772976, 0.1, 0.0975772976, 0.0905463412, 0.07959537,
            0.0657963412, 0.0505,
        ]
        assertClose(rates(CosineAnnealing(base: 0.1, tMax: 10, etaMin: 0.001), torch.count), torch,
                    atol: 0, rtol: 0, "cosine")
    }

    func testStepDecay() {
        // StepLR(SGD(lr=0.1), step_size=3, gamma=0.5)
        let torch: [Float] = [0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.025, 0.025, 0.025, 0.0125, 0.0125]
        assertClose(rates(StepDecay(base: 0.1, stepSize: 3, gamma: 0.5), torch.count), torch, atol: 0, rtol: 0, "step")
    }

    func testMultiStepDecayCountsRepeatedMilestones() {
        // MultiStepLR(SGD(lr=0.1), milestones=[2, 5, 5, 8], gamma=0.1)
        let torch: [Float] = [0.1, 0.1, 0.01, 0.01, 0.01, 0.0001, 0.0001, 0.0001, 1e-05, 1e-05, 1e-05]
        assertClose(rates(MultiStepDecay(base: 0.1, milestones: [8, 5, 2, 5]), torch.count), torch,
                    atol: 0, rtol: 0, "multistep")
    }

    func testLinearWarmupThenCosine() {
        // SequentialLR(SGD(lr=0.1), [LinearLR(start_factor=0.1, total_iters=4), CosineAnnealingLR(T_max=6)],
        //              milestones=[4])
        let torch: [Float] = [0.01, 0.0325, 0.055, 0.0775, 0.1, 0.0933012702, 0.075, 0.05, 0.025, 0.00669872981, 0,
                              0.00669872981, 0.025]
        let schedule = LinearWarmup(wrapping: CosineAnnealing(base: 0.1, tMax: 6), warmupSteps: 4, startFactor: 0.1)
        assertClose(rates(schedule, torch.count), torch, atol: 0, rtol: 0, "warm-up + cosine")
    }

    func testLinearWarmupWithTorchDefaultFactorThenStep() {
        // SequentialLR(SGD(lr=0.1), [LinearLR(total_iters=3), StepLR(step_size=2, gamma=0.5)], milestones=[3])
        let torch: [Float] = [0.0333333333, 0.0555555556, 0.0777777778, 0.1, 0.1, 0.05, 0.05, 0.025, 0.025, 0.0125]
        let schedule = LinearWarmup(wrapping: StepDecay(base: 0.1, stepSize: 2, gamma: 0.5), warmupSteps: 3)
        assertClose(rates(schedule, torch.count), torch, atol: 0, rtol: 0, "warm-up + step")
        XCTAssertEqual(LinearWarmup(wrapping: ConstantLearningRate(base: 0.5), warmupSteps: 0).learningRate(at: 0), 0.5)
    }

    func testOneCycle() {
        // OneCycleLR(SGD(lr=0.1), max_lr=0.1, total_steps=20, cycle_momentum=False); index 20 is
        // the last torch allows.
        let torch: [Float] = [
            0.004, 0.0131671843, 0.0371671843, 0.0668328157, 0.0908328157, 0.1, 0.0987464006, 0.0950484632,
            0.0890916178, 0.0811745654, 0.0716943002, 0.0611262022, 0.0500002, 0.0388741978, 0.0283060998,
            0.0188258346, 0.0109087822, 0.0049519368, 0.00125399938, 4e-07, 0.00125399938,
        ]
        let schedule = OneCycle(maxLR: 0.1, totalSteps: 20)
        assertClose(rates(schedule, torch.count), torch, atol: 0, rtol: 0, "onecycle")
        XCTAssertEqual(schedule.learningRate(at: 25), schedule.learningRate(at: 20))  // torch raises here
    }

    func testOneCycleWithOtherFactors() {
        // OneCycleLR(SGD(lr=1), max_lr=1, total_steps=7, pct_start=0.25, div_factor=10,
        //            final_div_factor=100, cycle_momentum=False)
        let torch: [Float] = [0.1, 0.994420998, 0.86665941, 0.611649207, 0.318012158, 0.0877937322, 0.001, 0.0877937322]
        let schedule = OneCycle(maxLR: 1, totalSteps: 7, pctStart: 0.25, divFactor: 10, finalDivFactor: 100)
        assertClose(rates(schedule, torch.count), torch, atol: 0, rtol: 0, "onecycle 7")
        // A first phase of length zero (pct_start * total_steps == 1), where torch divides by zero.
        XCTAssertEqual(OneCycle(maxLR: 1, totalSteps: 10, pctStart: 0.1).learningRate(at: 0), 1)
    }

    func testPerEpochScheduleHoldsEachEpochsRate() {
        let epochs = CosineAnnealing(base: 0.1, tMax: 4)
        let iterations = PerEpochSchedule(epochs, stepsPerEpoch: 3)
        XCTAssertEqual(rates(iterations, 12), (0..<12).map { epochs.learningRate(at: $0 / 3) })
        XCTAssertEqual(Set(rates(iterations, 12)).count, 4)
    }
}
