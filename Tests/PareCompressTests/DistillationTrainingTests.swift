import Foundation
import PareCore
import PareData
import PareIO
import PareModels
import PareTrain
import XCTest

@testable import PareCompress

/// A student trained against a teacher by the ``Trainer``: logits and hints, exact resume,
/// and the errors for a teacher that does not fit.
final class DistillationTrainingTests: XCTestCase {
    private var directories: [URL] = []
    override func tearDown() {
        for url in directories { try? FileManager.default.removeItem(at: url) }
    }
    private func temporary() -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("pare-distill-\(UUID().uuidString)")
        directories.append(url)
        return url
    }

    private func teacher(classes: Int = 4) throws -> Graph {
        var b = GraphBuilder()
        var x = b.input([1, 12, 12])
        x = b.relu(b.batchNorm(b.conv2d(x, "conv1", outChannels: 16, kernelSize: 3, padding: 1, bias: false), "bn1"))
        x = b.relu(b.batchNorm(b.conv2d(x, "conv2", outChannels: 16, kernelSize: 3, padding: 1, bias: false), "bn2"))
        x = b.linear(b.flatten(b.avgPool(x, kernelSize: 6)), "fc", outFeatures: classes)
        return try randomized(try b.build(outputs: [x], seed: 2), seed: 11)
    }

    private func student() throws -> Graph {
        var b = GraphBuilder()
        var x = b.input([1, 12, 12])
        x = b.relu(b.batchNorm(b.conv2d(x, "conv", outChannels: 4, kernelSize: 3, padding: 1, bias: false), "bn"))
        x = b.linear(b.flatten(b.avgPool(x, kernelSize: 6)), "fc", outFeatures: 4)
        return try b.build(outputs: [x], seed: 5)
    }

    private func configuration(epochs: Int = 3) -> TrainingConfiguration {
        var c = TrainingConfiguration()
        c.epochs = epochs
        c.batchSize = 16
        c.learningRate = 0.05
        c.augmentation = "crop=2"
        c.seed = 3
        c.threads = 1
        c.validationFraction = 0.25
        return c
    }

    /// Mean KL(teacher ‖ student) at temperature 1 over a data set, in inference mode.
    private func divergence(_ student: Graph, from objective: DistillationObjective, on data: any Dataset) throws -> Double {
        let executor = try DNNLExecutor(graph: student, batchSize: data.count, mode: .inference,
                                        configuration: ExecutorConfiguration(threads: 1))
        let batch = try XCTUnwrap(try DataLoader(data, batchSize: data.count, shuffle: false).epoch(0).next())
        let s = try executor.forward([batch.images])[0], t = try objective.teacherOutputs(batch.images)[0]
        return Double(try DistillationLoss(student: s, teacher: t, labels: batch.labels, alpha: 1, temperature: 1).loss)
    }

    /// With α = 1 the student learns the teacher's (random, label-free) function: the
    /// divergence from the teacher falls; with α = 0 training is plain cross-entropy and
    /// gives exactly the weights of a run without a teacher.
    func testStudentLearnsTheTeachersOutputs() throws {
        let train = quadrants(count: 192, seed: 1), test = quadrants(count: 64, seed: 2)
        let objective = try DistillationObjective(teacher: try teacher(), settings: DistillationSettings(alpha: 1, temperature: 1),
                                                  threads: 1)
        let before = try divergence(try student(), from: objective, on: test)
        let graph = try objective.trainingGraph(student: try student(), seed: 0)
        try Trainer(graph: graph, trainingSet: train, testSet: test, configuration: configuration(), directory: temporary(),
                    objective: objective).run()
        let after = try divergence(graph, from: objective, on: test)
        XCTAssertLessThan(after, before * 0.5, "KL from the teacher before \(before), after \(after)")

        let plain = try student(), crossEntropyOnly = try student()
        try Trainer(graph: plain, trainingSet: train, testSet: test, configuration: configuration(epochs: 1),
                    directory: temporary()).run()
        let alphaZero = try DistillationObjective(teacher: try teacher(), settings: DistillationSettings(alpha: 0, temperature: 4),
                                                  threads: 1)
        try Trainer(graph: crossEntropyOnly, trainingSet: train, testSet: test, configuration: configuration(epochs: 1),
                    directory: temporary(), objective: alphaZero).run()
        for (name, tensor) in plain.parameters where tensor.dtype == .f32 {
            assertCloseRelative(crossEntropyOnly.parameters[name]!, tensor, rtol: 1e-6, name)
        }
    }

    /// A hint adds an adapter output that trains with the student and is stripped afterwards;
    /// a run stopped after an epoch resumes to the same weights, and refuses another teacher.
    func testHintsTrainAnAdapterAndResumeExactly() throws {
        let train = quadrants(count: 128, seed: 1), test = quadrants(count: 32, seed: 2)
        let settings = DistillationSettings(alpha: 0.5, temperature: 4, hints: [try FeatureHint(parsing: "bn2=bn")],
                                            hintWeight: 0.5)
        let objective = try DistillationObjective(teacher: try teacher(), settings: settings, threads: 1)
        let graph = try objective.trainingGraph(student: try student(), seed: 0)
        XCTAssertEqual(graph.outputs.count, 2)
        XCTAssertEqual(try graph.inferShapes()[graph.outputs[1]], Shape([16, 12, 12]))
        let adapterBefore = graph.parameters["hint.0.adapter.weight"]!.copy()

        let whole = temporary(), split = temporary()
        try Trainer(graph: graph, trainingSet: train, testSet: test, configuration: configuration(epochs: 2), directory: whole,
                    objective: objective).run()
        XCTAssertNotEqual(graph.parameters["hint.0.adapter.weight"]!.scalars, adapterBefore.scalars, "the adapter trains")
        XCTAssertGreaterThan(objective.lastTerms.hints.first ?? 0, 0)

        let stripped = try HintAdapters.student(fromTraining: graph)
        XCTAssertEqual(stripped.nodes, try student().nodes)
        XCTAssertEqual(Set(stripped.parameters.keys), Set(try student().parameters.keys))
        XCTAssertEqual(stripped.outputs.count, 1)

        try Trainer(graph: try objective.trainingGraph(student: try student(), seed: 0), trainingSet: train, testSet: test,
                    configuration: configuration(epochs: 2), directory: split, objective: objective).run(stoppingAfterEpoch: 1)
        let fresh = try DistillationObjective(teacher: try teacher(), settings: settings, threads: 1)
        try Trainer(resuming: split, trainingSet: train, testSet: test, objective: fresh).run()
        let a = try SafetensorsFile.read(from: RunDirectory(whole).last), b = try SafetensorsFile.read(from: RunDirectory(split).last)
        XCTAssertEqual(Set(a.tensors.keys), Set(b.tensors.keys))
        for (name, tensor) in a.tensors {
            XCTAssertEqual(tensor.rawBytes, b.tensors[name]?.rawBytes, "\(name) differs after resume")
        }

        var otherTeacher = try teacher()
        otherTeacher.parameters["fc.bias"] = Tensor(zeros: [4])
        let other = try DistillationObjective(teacher: otherTeacher, settings: settings, threads: 1)
        XCTAssertThrowsError(try Trainer(resuming: split, trainingSet: train, testSet: test, objective: other)) {
            XCTAssertTrue("\($0)".contains("teacherFingerprint"), "\($0)")
        }
        XCTAssertThrowsError(try Trainer(resuming: split, trainingSet: train, testSet: test)) {
            XCTAssertTrue("\($0)".contains("objective"), "\($0)")
        }
    }

    /// The teacher's hint outputs are the node's own values (fusion does not swallow them).
    func testTeacherHintOutputsAreTheNodesValues() throws {
        let teacher = try teacher()
        let objective = try DistillationObjective(
            teacher: teacher, settings: DistillationSettings(hints: [try FeatureHint(parsing: "bn1=bn"), try FeatureHint(parsing: "conv2=conv")]),
            threads: 1)
        var generator = SeededGenerator(seed: 4)
        let images = Tensor.randomUniform([3, 1, 12, 12], low: 0, high: 1, generator: &generator)
        let outputs = try objective.teacherOutputs(images)
        XCTAssertEqual(outputs.count, 3)
        // The reference: the teacher cut at each node (a graph whose output is that node).
        for (k, name) in ["bn1", "conv2"].enumerated() {
            var cut = teacher
            cut.outputs = [teacher.nodes.firstIndex { $0.name == name }!]
            let expected = try ReferenceExecutor(graph: cut, batchSize: 3, mode: .inference).forward([images])[0]
            assertCloseRelative(outputs[k + 1], expected, rtol: 1e-5, name)
        }
    }

    /// Identity adapters: a student that is the teacher itself reproduces the teacher's hint
    /// maps through them exactly (Kaiming ones do not); different channel counts are refused.
    func testIdentityAdaptersPassTheStudentsMapThrough() throws {
        let teacher = try teacher()
        var generator = SeededGenerator(seed: 6)
        let images = Tensor.randomUniform([2, 1, 12, 12], low: 0, high: 1, generator: &generator)
        func adapted(_ initialisation: HintInitialisation) throws -> (student: Tensor, teacher: Tensor, graph: Graph) {
            let settings = DistillationSettings(hints: [try FeatureHint(parsing: "bn2=bn2"), try FeatureHint(parsing: "conv1=conv1")],
                                                hintInitialisation: initialisation)
            let objective = try DistillationObjective(teacher: teacher, settings: settings, threads: 1)
            let graph = try objective.trainingGraph(student: teacher, seed: 0)
            let outputs = try ReferenceExecutor(graph: graph, batchSize: 2, mode: .inference).forward([images])
            return (outputs[1], try objective.teacherOutputs(images)[1], graph)
        }
        let identity = try adapted(.identity)
        XCTAssertEqual(identity.student.shape, Shape([2, 16, 12, 12]))
        assertCloseRelative(identity.student, identity.teacher, rtol: 1e-5, "identity adapter")
        let weight = identity.graph.parameters["hint.1.adapter.weight"]!
        XCTAssertEqual(weight.shape, Shape([16, 16, 1, 1]))
        XCTAssertEqual(weight.scalars.reduce(0, +), 16)
        XCTAssertEqual(weight.scalars[0], 1)
        XCTAssertEqual(weight.scalars[17], 1)
        let kaiming = try adapted(.kaiming)
        let difference = zip(kaiming.student.scalars, kaiming.teacher.scalars).map { abs($0 - $1) }.max() ?? 0
        XCTAssertGreaterThan(difference, 0.1, "a random adapter changes the map")

        let settings = DistillationSettings(hints: [try FeatureHint(parsing: "bn2=bn")], hintInitialisation: .identity)
        let objective = try DistillationObjective(teacher: teacher, settings: settings, threads: 1)
        XCTAssertThrowsError(try objective.trainingGraph(student: try student(), seed: 0)) {
            XCTAssertTrue("\($0)".contains("identity adapter") && "\($0)".contains("4 and 16"), "\($0)")
        }
    }

    /// Settings round-trip through JSON (run notes); those saved before the adapters'
    /// initialisation was a setting read as Kaiming.
    func testSettingsDecodeWithAndWithoutTheInitialisation() throws {
        let settings = DistillationSettings(alpha: 0.9, temperature: 4, hints: [try FeatureHint(parsing: "a=b")], hintWeight: 2,
                                            hintInitialisation: .identity)
        let decoded = try JSONDecoder().decode(DistillationSettings.self, from: try JSONEncoder().encode(settings))
        XCTAssertEqual(decoded, settings)
        let old = #"{"alpha":0.5,"hintWeight":1,"hints":[],"temperature":20}"#
        XCTAssertEqual(try JSONDecoder().decode(DistillationSettings.self, from: Data(old.utf8)), DistillationSettings())
    }

    func testATeacherThatDoesNotFitIsRefused() throws {
        let train = quadrants(count: 64, seed: 1)
        let wrongClasses = try DistillationObjective(teacher: try teacher(classes: 3), settings: DistillationSettings(), threads: 1)
        XCTAssertThrowsError(try Trainer(graph: try student(), trainingSet: train, testSet: nil, configuration: configuration(),
                                         directory: temporary(), objective: wrongClasses)) {
            XCTAssertTrue("\($0)".contains("teacher gives 3 outputs") && "\($0)".contains("4 classes"), "\($0)")
        }
        XCTAssertThrowsError(try DistillationObjective(teacher: try teacher(), settings: DistillationSettings(
            hints: [try FeatureHint(parsing: "layer9=bn")]), threads: 1)) {
            XCTAssertTrue("\($0)".contains("no node 'layer9'"), "\($0)")
        }
        let objective = try DistillationObjective(teacher: try teacher(), settings: DistillationSettings(
            hints: [try FeatureHint(parsing: "bn1=fc")]), threads: 1)
        XCTAssertThrowsError(try objective.trainingGraph(student: try student(), seed: 0)) {
            XCTAssertTrue("\($0)".contains("feature maps"), "\($0)")
        }
    }
}

private extension Tensor {
    var rawBytes: Data { Data(bytes: storage.pointer, count: byteCount) }
}
