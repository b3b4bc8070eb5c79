import Foundation
import PareCore
import PareIO
import PareModels
import XCTest

/// Exports every zoo model (and ``everyOpGraph()``) with the default options (symbolic batch
/// dimension), runs it in Pare in evaluation mode on seeded random inputs of batch 1 and 3,
/// and has `scripts/check-onnx-export.py` run the one file at both batch sizes in onnxruntime
/// and compare its outputs with Pare's: same shapes, max |difference| under 1e-4 of max |output|.
///
/// The check needs a Python with numpy, onnx and onnxruntime: `$PARE_PYTHON` if set (e.g.
/// the one `make onnx-venv` creates), else `python3`. Without one the test is skipped and
/// says why.
final class ONNXExportParityTests: XCTestCase {
    /// One export must serve every batch size.
    private static let batches = [1, 3]

    private var repositoryRoot: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    func testEveryZooModelMatchesONNXRuntime() throws {
        let configured = ProcessInfo.processInfo.environment["PARE_PYTHON"] ?? ""
        let python = configured.isEmpty ? "python3" : configured
        let probe = try runProcess(python, ["-c", "import onnxruntime, onnx, numpy"])
        guard probe.status == 0 else {
            let reason = probe.output.split(separator: "\n").last.map(String.init) ?? "exit status \(probe.status)"
            throw XCTSkip("ONNX export parity check skipped: \(python) cannot import onnxruntime, onnx and numpy "
                          + "(\(reason)). `make test` sets one up (`make onnx-venv`); or set PARE_PYTHON to a Python that has them.")
        }

        let directory = try temporaryDirectory(self)
        var skipped: [String] = []
        var seconds: Double = 0
        try export(try everyOpGraph(seed: 1), name: "every-op", to: directory)
        for entry in Zoo.entries {
            guard let graph = try smallGraph(entry) else {
                skipped.append(entry.name)
                continue
            }
            let start = Date()
            try export(graph, name: entry.name, to: directory)
            seconds += Date().timeIntervalSince(start)
        }
        print(String(format: "exported %d zoo models and ran them in Pare in %.1f s", Zoo.entries.count - skipped.count, seconds))
        let script = repositoryRoot.appendingPathComponent("scripts/check-onnx-export.py")
        let check = try runProcess(python, [script.path, directory.path])
        print(check.output)
        if !skipped.isEmpty {
            print("not checked (no input smaller than 224x224, 130M+ parameters each): \(skipped.joined(separator: ", "))")
        }
        XCTAssertEqual(check.status, 0, check.output)
        // Only VGG's ImageNet form has no small input (its classifier needs a 7x7 map); the
        // same ops are checked in the CIFAR form.
        XCTAssertEqual(skipped, ["vgg11", "vgg13", "vgg16", "vgg19"], "zoo models left out")
    }

    /// The zoo model at a 32x32 input (or its own, if smaller), with random parameters and
    /// batch-norm statistics; nil if it cannot be built that small.
    private func smallGraph(_ entry: ZooEntry) throws -> Graph? {
        let channels = entry.defaultInput[0]
        let input: Shape = entry.defaultInput[1] <= 32 ? entry.defaultInput : [channels, 32, 32]
        do {
            var graph = try entry.build(ZooOptions(input: input, withParameters: false))
            try randomizeParameters(&graph, seed: 3)
            return graph
        } catch is ZooOptionError {
            return nil
        }
    }

    /// Writes `NAME.onnx` and, per batch size K, `NAME.batchK.input.safetensors` and
    /// `NAME.batchK.expected.safetensors`.
    private func export(_ graph: Graph, name: String, to directory: URL) throws {
        let shapes = try graph.inferShapes()
        let inputShape = shapes[graph.inputIndices[0]]
        var generator = SeededGenerator(seed: 7)
        try ONNXExport.write(graph, to: directory.appendingPathComponent("\(name).onnx"))
        for batch in Self.batches {
            let input = Tensor(zeros: Shape([batch] + inputShape.dimensions))
            let values = input.floats
            for i in values.indices { values[i] = generator.nextNormal() }

            let executor = try DNNLExecutor(graph: graph, batchSize: batch, mode: .inference)
            let outputs = try executor.forward([input])
            var expected: [String: Tensor] = [:]
            for (k, output) in outputs.enumerated() {
                XCTAssertEqual(output.shape[0], batch, "\(name): Pare's output \(k) at batch \(batch)")
                expected[outputs.count == 1 ? "output" : "output_\(k)"] = output.copy()
            }
            let prefix = "\(name).batch\(batch)"
            try SafetensorsFile(tensors: ["input": input]).write(to: directory.appendingPathComponent("\(prefix).input.safetensors"))
            try SafetensorsFile(tensors: expected).write(to: directory.appendingPathComponent("\(prefix).expected.safetensors"))
        }
    }

    private func runProcess(_ executable: String, _ arguments: [String]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [executable] + arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }
}
