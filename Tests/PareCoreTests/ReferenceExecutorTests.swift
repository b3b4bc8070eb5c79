import PareCore
import XCTest

/// ``ReferenceExecutor`` (f32, through the ``GraphExecutor`` protocol) against the Double
/// runner, and its executor duties: batch-norm buffers, dropout seeding, gradient
/// bookkeeping, errors.
final class ReferenceExecutorTests: XCTestCase {
    private func randomTensor(_ shape: Shape, seed: UInt64) throws -> Tensor {
        var generator = SeededGenerator(seed: seed)
        return try Tensor(shape: shape, values: randomArray(shape.elementCount, &generator).map { Float($0) })
    }

    /// Float executor vs Double runner on the same graph, parameters, inputs and dropout seed.
    /// Tolerances are f32's: atol 1e-5, rtol 1e-4 on outputs and gradients of size ~1.
    private func checkAgainstDouble(_ label: String, _ graph: Graph, batchSize: Int, seed: UInt64) throws {
        let graph = try TestGraphs.withRandomParameters(graph, seed: seed)
        let shapes = try graph.inferShapes()
        let inputs = try graph.inputIndices.enumerated().map { k, index in
            try randomTensor(shapes[index].prepending(batchSize), seed: seed + UInt64(k))
        }
        let seeds = try graph.outputs.enumerated().map { k, index in
            try randomTensor(shapes[index].prepending(batchSize), seed: seed + 100 + UInt64(k))
        }
        let runner = try ReferenceGraphRunner<Double>(graph: graph, batchSize: batchSize, mode: .training, seed: 5)
        let expectedOutputs = try runner.forward(inputs.map { $0.scalars.map(Double.init) })
        let expected = try runner.backward(seeds.map { $0.scalars.map(Double.init) })

        let executor: any GraphExecutor = try ReferenceExecutor(
            graph: graph, batchSize: batchSize, mode: .training,
            configuration: ExecutorConfiguration(seed: 5, computeInputGradients: true))
        let outputs = try executor.forward(inputs)
        try executor.backward(seeds)
        XCTAssertEqual(outputs.count, graph.outputs.count)
        for (k, output) in outputs.enumerated() {
            XCTAssertEqual(output.shape, shapes[graph.outputs[k]].prepending(batchSize), "\(label): output \(k) shape")
            assertClose(output.scalars.map(Double.init), expectedOutputs[k], atol: 1e-5, rtol: 1e-4, "\(label): output \(k)")
        }
        XCTAssertEqual(Set(executor.parameterGradients.keys), Set(try graph.trainableParameterNames()))
        for (name, gradient) in executor.parameterGradients {
            XCTAssertEqual(gradient.shape, graph.parameters[name]!.shape, "\(label): d\(name) shape")
            assertClose(gradient.scalars.map(Double.init), expected.parameterGradients[name]!, atol: 1e-5, rtol: 1e-4,
                        "\(label): d\(name)")
        }
        XCTAssertEqual(executor.inputGradients.count, inputs.count)
        for (k, gradient) in executor.inputGradients.enumerated() {
            XCTAssertEqual(gradient.shape, inputs[k].shape)
            assertClose(gradient.scalars.map(Double.init), expected.inputGradients[k], atol: 1e-5, rtol: 1e-4,
                        "\(label): d(input \(k))")
        }
    }

    func testMatchesDoubleRunnerOnResNetBlock() throws {
        try checkAgainstDouble("ResNet basic block", TestGraphs.resNetBasicBlock(), batchSize: 2, seed: 201)
    }

    func testMatchesDoubleRunnerOnEveryOpGraph() throws {
        try checkAgainstDouble("every op", TestGraphs.everyOp(), batchSize: 3, seed: 202)
    }

    private func batchNormGraph() throws -> Graph {
        var graph = Graph(nodes: [
            Node(name: "input", op: .input(shape: [2, 1, 2]), inputs: []),
            Node(name: "bn", op: .batchNorm(BatchNormAttributes(eps: 0, momentum: 0.1)), inputs: [0]),
        ], outputs: [1])
        try graph.initializeParameters(seed: 0)
        return graph
    }

    private func batchesTracked(_ graph: Graph) -> Int64 {
        graph.parameters["bn.num_batches_tracked"]!.storage.pointer.assumingMemoryBound(to: Int64.self)[0]
    }

    func testBatchNormBuffersUpdateInTrainingOnly() throws {
        // Same values as the hand-worked kernel test: channel 0 = 1,2 | 3,4; channel 1 = 0,0 | 4,4.
        let graph = try batchNormGraph()
        let input = try Tensor(shape: [2, 2, 1, 2], values: [1, 2, 0, 0, 3, 4, 4, 4])
        let training = try ReferenceExecutor(graph: graph, batchSize: 2, mode: .training)
        _ = try training.forward([input])
        assertClose(graph.parameters["bn.running_mean"]!.scalars, [0.25, 0.2], atol: 1e-7, rtol: 0, "running mean, step 1")
        assertClose(graph.parameters["bn.running_var"]!.scalars, [0.9 + 0.1 * 5 / 3, 0.9 + 0.1 * 16 / 3],
                    atol: 1e-6, rtol: 0, "running var, step 1 (unbiased)")
        XCTAssertEqual(batchesTracked(graph), 1)
        _ = try training.forward([input])
        assertClose(graph.parameters["bn.running_mean"]!.scalars, [0.25 * 0.9 + 0.25, 0.2 * 0.9 + 0.2], atol: 1e-6, rtol: 0,
                    "running mean, step 2")
        XCTAssertEqual(batchesTracked(graph), 2)

        // Inference reads the running statistics and leaves them alone.
        try graph.parameters["bn.running_mean"]!.assign(from: Tensor(shape: [2], values: [1, 2]))
        try graph.parameters["bn.running_var"]!.assign(from: Tensor(shape: [2], values: [4, 1]))
        let inference = try ReferenceExecutor(graph: graph, batchSize: 2, mode: .inference)
        let output = try inference.forward([input])[0]
        assertClose(output.scalars, [0, 0.5, -2, -2, 1, 1.5, 2, 2], atol: 1e-7, rtol: 0, "inference output")
        assertClose(graph.parameters["bn.running_mean"]!.scalars, [1, 2], atol: 0, rtol: 0, "inference keeps running mean")
        XCTAssertEqual(batchesTracked(graph), 2)
    }

    func testDropoutMasksFollowSeedNodeOrderAndCalls() throws {
        // input -> dropout a -> dropout b, on ones: each forward draws a's mask, then b's.
        let p = 0.5, count = 2 * 12
        let graph = Graph(nodes: [
            Node(name: "input", op: .input(shape: [12]), inputs: []),
            Node(name: "a", op: .dropout(p: p), inputs: [0]),
            Node(name: "b", op: .dropout(p: p), inputs: [1]),
        ], outputs: [2])
        let ones = Tensor(repeating: 1, shape: [2, 12])
        var generator = SeededGenerator(seed: 42)
        var expected: [[Float]] = []
        for _ in 0..<2 {
            let a: [Float] = referenceDropoutMask(count: count, p: p, generator: &generator)
            let b: [Float] = referenceDropoutMask(count: count, p: p, generator: &generator)
            expected.append(zip(a, b).map { $0 * $1 * 4 })
        }
        let executor = try ReferenceExecutor(graph: graph, batchSize: 2, mode: .training,
                                             configuration: ExecutorConfiguration(seed: 42))
        let first = try executor.forward([ones])[0].scalars
        let second = try executor.forward([ones])[0].scalars
        XCTAssertEqual(first, expected[0])
        XCTAssertEqual(second, expected[1])
        XCTAssertNotEqual(first, second, "the generator advances from call to call")
        let other = try ReferenceExecutor(graph: graph, batchSize: 2, mode: .training, configuration: ExecutorConfiguration(seed: 43))
        XCTAssertNotEqual(try other.forward([ones])[0].scalars, first, "another seed, other masks")
        let inference = try ReferenceExecutor(graph: graph, batchSize: 2, mode: .inference, configuration: ExecutorConfiguration(seed: 42))
        XCTAssertEqual(try inference.forward([ones])[0].scalars, ones.scalars, "no dropout in inference")

        // The gradient goes through the same masks.
        try executor.backward([ones])
        XCTAssertTrue(executor.parameterGradients.isEmpty)
        XCTAssertTrue(executor.inputGradients.isEmpty, "input gradients only when the configuration asks")
    }

    func testParameterUpdatesBetweenStepsAreSeen() throws {
        let graph = try TestGraphs.withRandomParameters(TestGraphs.resNetBasicBlock(), seed: 7)
        let executor = try ReferenceExecutor(graph: graph, batchSize: 2, mode: .inference)
        let input = try randomTensor([2, 4, 5, 5], seed: 8)
        let before = try executor.forward([input])[0].scalars
        let bias = graph.parameters["layer1.0.bn2.bias"]!.floats
        for i in bias.indices { bias[i] += 1 }  // an optimizer step, in place
        let after = try executor.forward([input])[0].scalars
        XCTAssertNotEqual(before, after)
    }

    func testErrors() throws {
        let graph = try TestGraphs.withRandomParameters(TestGraphs.resNetBasicBlock(), seed: 9)
        let training = try ReferenceExecutor(graph: graph, batchSize: 2, mode: .training)
        XCTAssertThrowsError(try training.backward([Tensor(zeros: [2, 4, 5, 5])])) {
            XCTAssertEqual($0 as? ExecutionError, .backwardWithoutTrainingForward)
        }
        XCTAssertThrowsError(try training.forward([])) {
            XCTAssertEqual($0 as? ExecutionError, .wrongInputCount(expected: 1, got: 0))
        }
        XCTAssertThrowsError(try training.forward([Tensor(zeros: [3, 4, 5, 5])])) {
            XCTAssertEqual($0 as? ExecutionError, .wrongInputShape(input: "input", expected: [2, 4, 5, 5], got: [3, 4, 5, 5]))
        }
        let inference = try ReferenceExecutor(graph: graph, batchSize: 2, mode: .inference)
        _ = try inference.forward([Tensor(zeros: [2, 4, 5, 5])])
        XCTAssertThrowsError(try inference.backward([Tensor(zeros: [2, 4, 5, 5])])) {
            XCTAssertEqual($0 as? ExecutionError, .backwardWithoutTrainingForward)
        }
        // Batch norm cannot train on one value per channel (PyTorch raises too).
        var flat = Graph(nodes: [Node(name: "input", op: .input(shape: [3]), inputs: []),
                                 Node(name: "bn", op: .batchNorm(BatchNormAttributes()), inputs: [0])], outputs: [1])
        try flat.initializeParameters(seed: 0)
        XCTAssertThrowsError(try ReferenceExecutor(graph: flat, batchSize: 1, mode: .training).forward([Tensor(zeros: [1, 3])]))
        var missing = graph
        missing.parameters["layer1.0.conv1.weight"] = nil
        XCTAssertThrowsError(try ReferenceExecutor(graph: missing, batchSize: 2, mode: .training))
    }
}
