import PareCore
import XCTest

/// Central differences of `loss` at `x`: `(loss(x + eps e_i) - loss(x - eps e_i)) / (2 eps)` for every i.
func centralDifferenceGradient(at x: [Double], eps: Double, _ loss: ([Double]) -> Double) -> [Double] {
    var point = x
    return x.indices.map { i in
        point[i] = x[i] + eps
        let plus = loss(point)
        point[i] = x[i] - eps
        let minus = loss(point)
        point[i] = x[i]
        return (plus - minus) / (2 * eps)
    }
}

/// `sum(output * weights)`: the scalar loss the gradient checks differentiate.
func weightedSum(_ output: [Double], _ weights: [Double]) -> Double {
    zip(output, weights).reduce(0) { $0 + $1.0 * $1.1 }
}

/// Failures of one op's backward against central differences, in Double; empty when it passes.
///
/// The loss is `L = sum(forward(arguments) * r)` with `r` fixed random weights, so `dOutput = r`.
/// `arguments` are the differentiable arguments (input, weight, bias, ...), named by `names`.
/// `backward` must ACCUMULATE into `gradients`: they start filled with random values, which
/// are subtracted afterwards, so a backward that overwrites fails. Each argument's numerical
/// gradient must also be nonzero somewhere, so a check cannot pass vacuously.
func opGradientFailures(
    arguments: [[Double]], names: [String], seed: UInt64 = 7, eps: Double = 1e-6, atol: Double, rtol: Double,
    forward: ([[Double]]) -> [Double],
    backward: (_ arguments: [[Double]], _ dOutput: [Double], _ gradients: inout [[Double]]) -> Void
) -> [String] {
    precondition(arguments.count == names.count)
    var generator = SeededGenerator(seed: seed)
    let r = randomArray(forward(arguments).count, &generator)
    let prefill = arguments.map { randomArray($0.count, &generator) }
    var gradients = prefill
    backward(arguments, r, &gradients)
    var failures: [String] = []
    for k in arguments.indices {
        let analytic = zip(gradients[k], prefill[k]).map { $0 - $1 }
        let numeric = centralDifferenceGradient(at: arguments[k], eps: eps) { value in
            var perturbed = arguments
            perturbed[k] = value
            return weightedSum(forward(perturbed), r)
        }
        if !numeric.contains(where: { abs($0) > 1e-3 }) {
            failures.append("d\(names[k]): numerical gradient is zero everywhere, the check is vacuous")
        }
        if let failure = closenessFailure(analytic, numeric, atol: atol, rtol: rtol) {
            failures.append("d\(names[k]): \(failure)")
        }
    }
    return failures
}

/// Asserts one op's backward matches central differences (see ``opGradientFailures``).
func checkOpGradients(
    _ label: String, arguments: [[Double]], names: [String], seed: UInt64 = 7, eps: Double = 1e-6,
    atol: Double, rtol: Double,
    forward: ([[Double]]) -> [Double],
    backward: (_ arguments: [[Double]], _ dOutput: [Double], _ gradients: inout [[Double]]) -> Void,
    file: StaticString = #filePath, line: UInt = #line
) {
    for failure in opGradientFailures(arguments: arguments, names: names, seed: seed, eps: eps, atol: atol, rtol: rtol,
                                      forward: forward, backward: backward) {
        XCTFail("\(label): \(failure)", file: file, line: line)
    }
}

/// Checks a whole graph's backward (training mode, Double) against central differences of
/// `L = sum over outputs of sum(output * r)`: every trainable parameter and every input.
/// The dropout generator is restored before each forward pass, so every pass draws the same
/// masks. Returns the number of elements checked.
@discardableResult
func checkGraphGradients(
    _ label: String, graph: Graph, parameters: [String: [Double]], batchSize: Int, seed: UInt64 = 11,
    eps: Double = 1e-6, atol: Double, rtol: Double, file: StaticString = #filePath, line: UInt = #line
) throws -> Int {
    let runner = try ReferenceGraphRunner<Double>(graph: graph, batchSize: batchSize, mode: .training,
                                                  parameters: parameters, seed: seed)
    var generator = SeededGenerator(seed: seed &+ 1)
    let shapes = try graph.inferShapes()
    let inputs = graph.inputIndices.map { randomArray(batchSize * shapes[$0].elementCount, &generator) }
    let weights = graph.outputs.map { randomArray(batchSize * shapes[$0].elementCount, &generator) }
    let dropoutState = runner.generator

    func loss(_ inputs: [[Double]]) -> Double {
        runner.generator = dropoutState
        let outputs = try! runner.forward(inputs)
        return zip(outputs, weights).reduce(0) { $0 + weightedSum($1.0, $1.1) }
    }
    _ = loss(inputs)
    let analytic = try runner.backward(weights)
    var checked = 0

    for name in try graph.trainableParameterNames() {
        let original = runner.parameters[name]!
        let numeric = centralDifferenceGradient(at: original, eps: eps) { value in
            runner.parameters[name] = value
            return loss(inputs)
        }
        runner.parameters[name] = original
        assertClose(analytic.parameterGradients[name]!, numeric, atol: atol, rtol: rtol, "\(label): d\(name)",
                    file: file, line: line)
        checked += original.count
    }
    for k in inputs.indices {
        let numeric = centralDifferenceGradient(at: inputs[k], eps: eps) { value in
            var perturbed = inputs
            perturbed[k] = value
            return loss(perturbed)
        }
        assertClose(analytic.inputGradients[k], numeric, atol: atol, rtol: rtol, "\(label): d(input \(k))",
                    file: file, line: line)
        checked += inputs[k].count
    }
    return checked
}
