import PareTrain
import XCTest

/// The command line's schedule names and the per-iteration schedules built from them.
final class ScheduleSpecTests: XCTestCase {
    func testParsesEveryName() throws {
        let cases: [(String, ScheduleSpec)] = [
            ("constant", .constant),
            ("cosine", .cosine(etaMin: 0)),
            ("Cosine:eta_min=1e-5", .cosine(etaMin: 1e-5)),
            ("step:30", .step(stepSize: 30, gamma: 0.1)),
            ("step:30,gamma=0.5", .step(stepSize: 30, gamma: 0.5)),
            ("multistep:100,150", .multiStep(milestones: [100, 150], gamma: 0.1)),
            ("multistep:100,gamma=0.2,150", .multiStep(milestones: [100, 150], gamma: 0.2)),
            ("onecycle", .oneCycle(pctStart: 0.3, divFactor: 25, finalDivFactor: 1e4)),
            ("onecycle:pct_start=0.25,div_factor=10,final_div_factor=100",
             .oneCycle(pctStart: 0.25, divFactor: 10, finalDivFactor: 100)),
        ]
        for (text, expected) in cases {
            XCTAssertEqual(try parseSchedule(text), expected, text)
        }
        XCTAssertEqual(try parseSchedule("cosine", warmupSteps: 500, warmupStartFactor: 0.01),
                       .warmup(steps: 500, startFactor: 0.01, then: .cosine(etaMin: 0)))
        XCTAssertEqual(try parseSchedule("step:2", warmupSteps: 3),
                       .warmup(steps: 3, startFactor: 1.0 / 3, then: .step(stepSize: 2, gamma: 0.1)))
    }

    func testRejectsMalformedSpecsNamingTheProblem() {
        let cases: [(String, String)] = [
            ("cos", "unknown schedule 'cos'"),
            ("", "unknown schedule ''"),
            ("step", "step needs one step size in epochs ≥ 1, as in step:30"),
            ("step:0", "step needs one step size in epochs ≥ 1, as in step:30"),
            ("step:30,40", "step needs one step size in epochs ≥ 1, as in step:30"),
            ("step:x", "step: 'x' is not an epoch number"),
            ("multistep", "multistep needs milestones, as in multistep:100,150"),
            ("multistep:10,-1", "multistep: '-1' is not an epoch number"),
            ("cosine:eta_min=abc", "cosine: eta_min=abc is not a number"),
            ("cosine:foo=1", "cosine: unexpected argument 'foo'"),
            ("cosine:0.1", "cosine: unexpected argument '0.1'"),
            ("constant:3", "constant: unexpected argument '3'"),
            ("onecycle:pct_start=2", "onecycle: pct_start 2.0 not in [0, 1]"),
            ("onecycle:div_factor=0", "onecycle: div factors must be > 0"),
        ]
        for (text, reason) in cases {
            XCTAssertThrowsError(try parseSchedule(text), text) { error in
                XCTAssertEqual(error as? ScheduleError, .invalid(reason), text)
                XCTAssertTrue(String(describing: error).contains("multistep:EPOCH"), "the message gives the syntax")
            }
        }
        XCTAssertThrowsError(try parseSchedule("cosine", warmupSteps: -1))
        XCTAssertThrowsError(try parseSchedule("cosine", warmupSteps: 5, warmupStartFactor: 0))
    }

    func testEpochSchedulesChangeOncePerEpoch() throws {
        // 4 epochs of 3 iterations: cosine with T_max = 4 epochs, held for each epoch's iterations.
        let schedule = try ScheduleSpec.cosine(etaMin: 0.001).make(baseLR: 0.1, epochs: 4, stepsPerEpoch: 3)
        let cosine = CosineAnnealing(base: 0.1, tMax: 4, etaMin: 0.001)
        XCTAssertEqual((0..<12).map { schedule.learningRate(at: $0) }, (0..<12).map { cosine.learningRate(at: $0 / 3) })

        let step = try ScheduleSpec.step(stepSize: 2, gamma: 0.5).make(baseLR: 0.1, epochs: 6, stepsPerEpoch: 5)
        XCTAssertEqual([0, 9, 10, 19, 20].map { step.learningRate(at: $0) }, [0.1, 0.1, 0.05, 0.05, 0.025])

        let multiStep = try ScheduleSpec.multiStep(milestones: [1, 3]).make(baseLR: 1, epochs: 4, stepsPerEpoch: 2)
        XCTAssertEqual((0..<8).map { multiStep.learningRate(at: $0) }, [1, 1, 0.1, 0.1, 0.1, 0.1, 0.01, 0.01].map { Float($0) })

        let constant = try ScheduleSpec.constant.make(baseLR: 0.05, epochs: 2, stepsPerEpoch: 7)
        XCTAssertEqual(Set((0..<14).map { constant.learningRate(at: $0) }), [0.05])
    }

    func testOneCycleSpansEveryIterationOfTheRun() throws {
        let schedule = try ScheduleSpec.oneCycle().make(baseLR: 0.1, epochs: 4, stepsPerEpoch: 5)
        let oneCycle = OneCycle(maxLR: 0.1, totalSteps: 20)
        XCTAssertEqual((0..<20).map { schedule.learningRate(at: $0) }, (0..<20).map { oneCycle.learningRate(at: $0) })
    }

    func testWarmupCountsIterationsThenHandsOverToTheEpochSchedule() throws {
        // 5 warm-up iterations from 0.1 × base, then cosine per epoch (3 iterations) from its epoch 0.
        let schedule = try ScheduleSpec.warmup(steps: 5, startFactor: 0.1, then: .cosine())
            .make(baseLR: 0.2, epochs: 4, stepsPerEpoch: 3)
        let cosine = CosineAnnealing(base: 0.2, tMax: 4)
        let expected: [Float] = [0.02, 0.056, 0.092, 0.128, 0.164] + (0..<7).map { cosine.learningRate(at: $0 / 3) }
        assertClose((0..<12).map { schedule.learningRate(at: $0) }, expected, atol: 0, rtol: 1e-6, "warm-up + cosine")
    }

    func testMakeRejectsAnEmptyRun() {
        XCTAssertThrowsError(try ScheduleSpec.cosine().make(baseLR: 0.1, epochs: 0, stepsPerEpoch: 10))
        XCTAssertThrowsError(try ScheduleSpec.oneCycle().make(baseLR: 0.1, epochs: 3, stepsPerEpoch: 0))
        XCTAssertThrowsError(try ScheduleSpec.step(stepSize: 0).make(baseLR: 0.1, epochs: 3, stepsPerEpoch: 1))
    }
}
