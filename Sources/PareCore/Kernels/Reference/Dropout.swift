// Reference dropout. The random part is separate: a mask of 0s and 1s drawn from a
// ``SeededGenerator`` in logical (row-major) element order, so any executor drawing from the
// same generator state gets the same mask.

/// A keep-mask of `count` elements: element `i` is 1 (kept) iff the `i`-th
/// `generator.nextUniform()` is `>= p` (compared in Double), else 0. Draws exactly `count` numbers.
public func referenceDropoutMask<T: BinaryFloatingPoint>(count: Int, p: Double, generator: inout SeededGenerator) -> [T] {
    (0..<count).map { _ in Double(generator.nextUniform()) >= p ? 1 : 0 }
}

/// `output = input * mask / (1 - p)`.
// input, mask, output have the same shape.
public func referenceDropoutForward<T: BinaryFloatingPoint>(output: inout [T], input: [T], mask: [T], p: Double) {
    precondition(input.count == mask.count && output.count == input.count, "dropout: count")
    let scale = 1 / (1 - T(p))
    for i in input.indices { output[i] = input[i] * mask[i] * scale }
}

/// `dInput += dOutput * mask / (1 - p)`.
public func referenceDropoutBackward<T: BinaryFloatingPoint>(dInput: inout [T], dOutput: [T], mask: [T], p: Double) {
    precondition(dOutput.count == mask.count && dInput.count == dOutput.count, "dropout: count")
    let scale = 1 / (1 - T(p))
    for i in dOutput.indices { dInput[i] += dOutput[i] * mask[i] * scale }
}
