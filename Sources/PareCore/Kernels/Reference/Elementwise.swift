// Reference element-wise sum of two tensors of the same shape (a residual connection).

/// `output = lhs + rhs`.
public func referenceAddForward<T: BinaryFloatingPoint>(output: inout [T], lhs: [T], rhs: [T]) {
    precondition(lhs.count == rhs.count && output.count == lhs.count, "add: count")
    for i in lhs.indices { output[i] = lhs[i] + rhs[i] }
}

/// Both inputs receive the output gradient unchanged.
public func referenceAddBackward<T: BinaryFloatingPoint>(dLhs: inout [T], dRhs: inout [T], dOutput: [T]) {
    precondition(dLhs.count == dOutput.count && dRhs.count == dOutput.count, "add: count")
    for i in dOutput.indices {
        dLhs[i] += dOutput[i]
        dRhs[i] += dOutput[i]
    }
}
