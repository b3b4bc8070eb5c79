/// A dense, contiguous, row-major tensor.
///
/// `Tensor` has reference semantics for its elements, like a PyTorch tensor: copies of a
/// `Tensor` value share storage, and writing through one is seen through the others. Use
/// ``copy()`` for an independent tensor.
public struct Tensor: @unchecked Sendable, CustomStringConvertible {
    public let shape: Shape
    public let dtype: DType
    public let storage: TensorStorage

    /// A zero-filled tensor.
    public init(zeros shape: Shape, dtype: DType = .f32) {
        self.shape = shape
        self.dtype = dtype
        self.storage = TensorStorage(byteCount: shape.elementCount * dtype.byteSize)
    }

    /// A tensor viewing existing storage (which must be large enough).
    public init(shape: Shape, dtype: DType, storage: TensorStorage) {
        precondition(storage.byteCount >= shape.elementCount * dtype.byteSize,
                     "storage of \(storage.byteCount) bytes too small for \(shape) \(dtype.rawValue)")
        self.shape = shape
        self.dtype = dtype
        self.storage = storage
    }

    /// An f32 tensor holding `values` in row-major order.
    public init(shape: Shape, values: [Float]) throws {
        guard values.count == shape.elementCount else {
            throw TensorError.elementCountMismatch(shape: shape, expected: shape.elementCount, got: values.count)
        }
        self.init(zeros: shape)
        values.withUnsafeBufferPointer { source in
            storage.pointer.copyMemory(from: source.baseAddress!, byteCount: values.count * 4)
        }
    }

    /// An f32 tensor filled with `value`.
    public init(repeating value: Float, shape: Shape) {
        self.init(zeros: shape)
        let p = storage.pointer.assumingMemoryBound(to: Float.self)
        for i in 0..<shape.elementCount { p[i] = value }
    }

    public var elementCount: Int { shape.elementCount }
    public var byteCount: Int { elementCount * dtype.byteSize }

    /// The elements as f32 (the tensor must be f32).
    public var floats: UnsafeMutableBufferPointer<Float> {
        precondition(dtype == .f32, "tensor of dtype \(dtype.rawValue) read as f32")
        return UnsafeMutableBufferPointer(start: storage.pointer.assumingMemoryBound(to: Float.self), count: elementCount)
    }

    /// The elements as a Swift array (f32 only).
    public var scalars: [Float] { Array(floats) }

    /// An independent copy.
    public func copy() -> Tensor {
        let result = Tensor(zeros: shape, dtype: dtype)
        result.storage.pointer.copyMemory(from: storage.pointer, byteCount: byteCount)
        return result
    }

    /// The same elements under another shape with the same element count.
    public func reshaped(_ newShape: Shape) throws -> Tensor {
        guard newShape.elementCount == elementCount else {
            throw TensorError.elementCountMismatch(shape: newShape, expected: newShape.elementCount, got: elementCount)
        }
        return Tensor(shape: newShape, dtype: dtype, storage: storage)
    }

    /// Overwrites the elements with those of `other`, which must have the same shape and dtype.
    public func assign(from other: Tensor) throws {
        guard other.shape == shape else {
            throw TensorError.shapeMismatch(context: "assign", expected: shape, got: other.shape)
        }
        guard other.dtype == dtype else {
            throw TensorError.dtypeMismatch(context: "assign", expected: dtype, got: other.dtype)
        }
        storage.pointer.copyMemory(from: other.storage.pointer, byteCount: byteCount)
    }

    /// Sets every element to zero.
    public func zero() {
        storage.pointer.initializeMemory(as: UInt8.self, repeating: 0, count: byteCount)
    }

    public var description: String {
        let preview = dtype == .f32 ? " " + floats.prefix(6).map { String($0) }.joined(separator: ", ") + (elementCount > 6 ? ", …" : "") : ""
        return "Tensor<\(dtype.rawValue)>(\(shape))\(preview)"
    }
}
