/// Index selection along one axis, the slicing that pruning surgery and rewrites use.
extension Tensor {
    /// A new tensor holding the entries at `indices` (in that order, repeats allowed) along
    /// `axis`; every other axis is kept whole. PyTorch's `index_select(axis, indices)`.
    /// Works for every dtype: rows are copied as bytes.
    ///
    /// Throws when `axis` is not an axis of the tensor or an index is out of range.
    public func selecting(_ indices: [Int], axis: Int) throws -> Tensor {
        guard axis >= 0, axis < shape.rank else {
            throw TensorError.invalidAxis(context: "selecting", axis: axis, rank: shape.rank)
        }
        let extent = shape[axis]
        if let bad = indices.first(where: { $0 < 0 || $0 >= extent }) {
            throw TensorError.indexOutOfRange(context: "selecting along axis \(axis)", index: bad, extent: extent)
        }
        var dimensions = shape.dimensions
        dimensions[axis] = indices.count
        let result = Tensor(zeros: Shape(dimensions), dtype: dtype)
        // [outer, extent, inner]: each selected index copies `outer` runs of `inner` elements.
        let outer = shape.dimensions[..<axis].reduce(1, *)
        let inner = shape.dimensions[(axis + 1)...].reduce(1, *) * dtype.byteSize
        let source = storage.pointer, destination = result.storage.pointer
        for o in 0..<outer {
            for (j, index) in indices.enumerated() {
                (destination + (o * indices.count + j) * inner)
                    .copyMemory(from: source + (o * extent + index) * inner, byteCount: inner)
            }
        }
        return result
    }

    /// `selecting` along several axes in turn, e.g. `[0: keptOut, 1: keptIn]` for a
    /// convolution weight. Axes not named are kept whole.
    public func selecting(_ selections: [Int: [Int]]) throws -> Tensor {
        var result = self
        for axis in selections.keys.sorted() {
            guard let indices = selections[axis] else { continue }
            if indices == Array(0..<(axis < shape.rank ? shape[axis] : 0)) { continue }
            result = try result.selecting(indices, axis: axis)
        }
        return result === self ? copy() : result
    }
}

extension Tensor {
    /// Whether two tensor values share storage.
    static func === (a: Tensor, b: Tensor) -> Bool { a.storage === b.storage }
}
