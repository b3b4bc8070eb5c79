/// Evaluates ONNX operators on ``ConstantTensor``s: the shape arithmetic exporters write
/// (`Shape` -> `Gather` -> `Unsqueeze` -> `Concat` -> `Reshape`) and any other subgraph
/// that depends on initializers and constants only.
enum ConstantFolding {
    /// The most elements a folded result may have (a corrupt file must not make the importer
    /// allocate without bound).
    static let maxFoldedElements = 1 << 28

    /// The most elements a folded result of a file of `fileBytes` bytes may have: a CNN's
    /// folded constants are shape arithmetic (a few elements), pads, or transforms of
    /// initializers stored in the file (at least a byte per element), so a result larger than
    /// the file and than 2^20 elements comes from a crafted or corrupt file (a 100-byte
    /// `ConstantOfShape` asking for 2^28 elements would allocate 4 GiB).
    static func foldLimit(fileBytes: Int) -> Int { min(maxFoldedElements, max(1 << 20, fileBytes)) }

    /// The operators ``evaluate(_:_:_:)`` computes.
    static let operators: Set<String> = [
        "Identity", "Cast", "Gather", "Unsqueeze", "Squeeze", "Concat", "Reshape", "Flatten", "Slice",
        "Add", "Sub", "Mul", "Div", "Neg", "Transpose", "ConstantOfShape", "Sqrt", "Reciprocal",
    ]

    /// The outputs of `opType` on constant `inputs` (nil for an omitted optional input).
    static func evaluate(_ opType: String, _ inputs: [ConstantTensor?], _ attributes: NodeAttributes,
                         limit: Int = maxFoldedElements) throws -> [ConstantTensor] {
        func input(_ k: Int) throws -> ConstantTensor {
            guard k < inputs.count, let value = inputs[k] else { throw ImportFailure.invalid("input \(k) is missing") }
            return value
        }
        func optionalInts(_ k: Int) throws -> [Int]? {
            guard k < inputs.count, let value = inputs[k] else { return nil }
            guard let ints = value.intValues else {
                throw ImportFailure.unsupported("input \(k) depends on the batch size: \(value.summary)")
            }
            return ints
        }
        switch opType {
        case "Identity":
            return [try input(0)]
        case "Cast":
            let x = try input(0)
            let to = try attributes.int("to") ?? 0
            switch Onnx_TensorProto.DataType(rawValue: to) {
            case .float?, .double?, .float16?, .bfloat16?:
                guard let values = x.floatValues else {
                    throw ImportFailure.unsupported("cannot cast a value depending on the batch size to float: \(x.summary)")
                }
                return [ConstantTensor(shape: x.shape, floats: values)]
            case .bool?:
                let values = x.symbolicIntegers.map { value -> SymbolicInteger in
                    if case let .known(v) = value { return .known(v == 0 ? 0 : 1) }
                    return .known(1)  // a batch size is never zero
                }
                return [ConstantTensor(shape: x.shape, integers: values)]
            default:
                return [ConstantTensor(shape: x.shape, integers: x.symbolicIntegers)]
            }
        case "Neg":
            let x = try input(0)
            return [try elementwise(x, ConstantTensor(shape: [], ints: [-1]), float: { a, _ in -a }, integer: multiply, limit: limit)]
        case "Sqrt", "Reciprocal":
            let x = try input(0)
            guard let values = x.floatValues else { throw ImportFailure.unsupported("\(opType) of a symbolic value") }
            return [ConstantTensor(shape: x.shape, floats: values.map { opType == "Sqrt" ? $0.squareRoot() : 1 / $0 })]
        case "Add":
            return [try elementwise(try input(0), try input(1), float: +, integer: add, limit: limit)]
        case "Sub":
            return [try elementwise(try input(0), try input(1), float: -, integer: subtract, limit: limit)]
        case "Mul":
            return [try elementwise(try input(0), try input(1), float: *, integer: multiply, limit: limit)]
        case "Div":
            return [try elementwise(try input(0), try input(1), float: /, integer: divide, limit: limit)]
        case "Gather":
            return [try gather(try input(0), indices: try input(1), axis: try attributes.int("axis", default: 0), limit: limit)]
        case "Unsqueeze":
            let x = try input(0)
            guard let axes = try attributes.ints("axes") ?? optionalInts(1) else {
                throw ImportFailure.invalid("Unsqueeze without axes")
            }
            let rank = x.rank + axes.count
            let normalized = try Set(axes.map { try normalizeAxis($0, rank: rank) })
            guard normalized.count == axes.count else { throw ImportFailure.invalid("repeated Unsqueeze axes \(axes)") }
            var shape: [Int] = []
            var source = x.shape.makeIterator()
            for axis in 0..<rank { shape.append(normalized.contains(axis) ? 1 : source.next()!) }
            return [reshaped(x, shape)]
        case "Squeeze":
            let x = try input(0)
            let axes = try (attributes.ints("axes") ?? optionalInts(1)).map { try Set($0.map { try normalizeAxis($0, rank: x.rank) }) }
            var shape: [Int] = []
            for (axis, size) in x.shape.enumerated() {
                if let axes, axes.contains(axis) {
                    guard size == 1 else { throw ImportFailure.invalid("Squeeze of axis \(axis) of size \(size)") }
                } else if axes != nil || size != 1 {
                    shape.append(size)
                }
            }
            return [reshaped(x, shape)]
        case "Concat":
            let values = try inputs.indices.map { try input($0) }
            return [try concat(values, axis: try attributes.int("axis") ?? 0)]
        case "Reshape":
            let x = try input(0)
            guard let target = try optionalInts(1) else { throw ImportFailure.invalid("Reshape without a shape") }
            let allowZero = try attributes.int("allowzero", default: 0) != 0
            return [reshaped(x, try resolveReshape(x.shape, target, allowZero: allowZero))]
        case "Flatten":
            let x = try input(0)
            let axis = try normalizeAxis(try attributes.int("axis", default: 1), rank: x.rank + 1)
            return [reshaped(x, [x.shape[..<axis].reduce(1, *), x.shape[axis...].reduce(1, *)])]
        case "Slice":
            let x = try input(0)
            let starts = try attributes.ints("starts") ?? optionalInts(1)
            let ends = try attributes.ints("ends") ?? optionalInts(2)
            guard let starts, let ends, starts.count == ends.count else {
                throw ImportFailure.invalid("Slice needs starts and ends of the same length")
            }
            let axes = try attributes.ints("axes") ?? optionalInts(3) ?? Array(0..<starts.count)
            let steps = try optionalInts(4) ?? [Int](repeating: 1, count: starts.count)
            return [try slice(x, starts: starts, ends: ends, axes: axes, steps: steps)]
        case "Transpose":
            let x = try input(0)
            let perm = try attributes.ints("perm") ?? Array((0..<x.rank).reversed())
            return [try transpose(x, perm: perm)]
        case "ConstantOfShape":
            guard let shape = try optionalInts(0), let count = checkedProduct(shape) else {
                throw ImportFailure.invalid("ConstantOfShape needs a known, non-negative shape")
            }
            guard count <= limit else {
                throw ImportFailure.invalid("ConstantOfShape asks for \(count) elements (shape \(shape)), more than the \(limit) "
                                            + "a file of this size may fold to")
            }
            let value = try attributes.tensor("value").map { try ConstantTensor(proto: $0) }
                ?? ConstantTensor(shape: [1], floats: [0])
            guard value.elementCount == 1 else { throw ImportFailure.invalid("ConstantOfShape value must have one element") }
            return [value.gathered(shape: shape, count: count) { _ in 0 }]
        default:
            throw ImportFailure.unsupported("\(opType) is not evaluated on constants")
        }
    }

    // MARK: Integer arithmetic with the batch symbol

    private static func add(_ a: SymbolicInteger, _ b: SymbolicInteger) -> SymbolicInteger {
        switch (a, b) {
        case let (.known(x), .known(y)):
            let (sum, overflow) = x.addingReportingOverflow(y)
            return overflow ? .unknown : .known(sum)
        case (.batch, .known(0)), (.known(0), .batch): return .batch
        default: return .unknown
        }
    }

    private static func subtract(_ a: SymbolicInteger, _ b: SymbolicInteger) -> SymbolicInteger {
        switch (a, b) {
        case let (.known(x), .known(y)):
            let (difference, overflow) = x.subtractingReportingOverflow(y)
            return overflow ? .unknown : .known(difference)
        case (.batch, .known(0)): return .batch
        default: return .unknown
        }
    }

    private static func multiply(_ a: SymbolicInteger, _ b: SymbolicInteger) -> SymbolicInteger {
        switch (a, b) {
        case let (.known(x), .known(y)):
            let (product, overflow) = x.multipliedReportingOverflow(by: y)
            return overflow ? .unknown : .known(product)
        case (.batch, .known(1)), (.known(1), .batch): return .batch
        default: return .unknown
        }
    }

    /// Integer division truncates toward zero (ONNX `Div` on integers); by zero: unknown.
    private static func divide(_ a: SymbolicInteger, _ b: SymbolicInteger) -> SymbolicInteger {
        switch (a, b) {
        case let (.known(x), .known(y)):
            guard y != 0, !(x == Int.min && y == -1) else { return .unknown }
            return .known(x / y)
        case (.batch, .known(1)): return .batch
        default: return .unknown
        }
    }

    // MARK: Shapes and indexing

    static func normalizeAxis(_ axis: Int, rank: Int) throws -> Int {
        let normalized = axis < 0 ? axis + rank : axis
        guard normalized >= 0, normalized < max(rank, 1) else {
            throw ImportFailure.invalid("axis \(axis) out of range for rank \(rank)")
        }
        return normalized
    }

    /// The product of non-negative sizes, or nil if one is negative or it overflows.
    static func checkedProduct(_ sizes: [Int]) -> Int? {
        var product = 1
        for size in sizes {
            guard size >= 0 else { return nil }
            let (next, overflow) = product.multipliedReportingOverflow(by: size)
            if overflow { return nil }
            product = next
        }
        return product
    }

    private static func reshaped(_ x: ConstantTensor, _ shape: [Int]) -> ConstantTensor {
        var result = x
        result.shape = shape
        return result
    }

    /// The target of a `Reshape` with its `0` (copy) and `-1` (infer) entries resolved.
    static func resolveReshape(_ shape: [Int], _ target: [Int], allowZero: Bool) throws -> [Int] {
        var resolved: [Int] = []
        var inferred: Int?
        for (axis, size) in target.enumerated() {
            switch size {
            case 0 where !allowZero:
                guard axis < shape.count else { throw ImportFailure.invalid("Reshape copies axis \(axis) of a rank-\(shape.count) tensor") }
                resolved.append(shape[axis])
            case -1:
                guard inferred == nil else { throw ImportFailure.invalid("Reshape target \(target) has two -1 entries") }
                inferred = axis
                resolved.append(1)
            case let size where size >= 0:
                resolved.append(size)
            default:
                throw ImportFailure.invalid("Reshape target \(target) has a negative entry")
            }
        }
        let count = shape.reduce(1, *)
        guard let known = checkedProduct(resolved) else { throw ImportFailure.invalid("Reshape target \(target) is too large") }
        if let inferred {
            guard known > 0, count % known == 0 else {
                throw ImportFailure.invalid("cannot reshape \(shape) to \(target)")
            }
            resolved[inferred] = count / known
        }
        guard resolved.reduce(1, *) == count else { throw ImportFailure.invalid("cannot reshape \(shape) to \(target)") }
        return resolved
    }

    private static func strides(_ shape: [Int]) -> [Int] {
        var result = [Int](repeating: 1, count: shape.count)
        var running = 1
        for axis in stride(from: shape.count - 1, through: 0, by: -1) {
            result[axis] = running
            running *= shape[axis]
        }
        return result
    }

    /// Calls `body` with every multi-index of `shape` in row-major order.
    private static func forEachIndex(_ shape: [Int], _ body: ([Int]) -> Void) {
        let count = shape.reduce(1, *)
        guard count > 0 else { return }
        var index = [Int](repeating: 0, count: shape.count)
        for _ in 0..<count {
            body(index)
            var axis = shape.count - 1
            while axis >= 0 {
                index[axis] += 1
                if index[axis] < shape[axis] { break }
                index[axis] = 0
                axis -= 1
            }
        }
    }

    /// Numpy-style broadcasting of two tensors.
    static func elementwise(_ a: ConstantTensor, _ b: ConstantTensor, float: (Float, Float) -> Float,
                            integer: (SymbolicInteger, SymbolicInteger) -> SymbolicInteger,
                            limit: Int = maxFoldedElements) throws -> ConstantTensor {
        let rank = max(a.rank, b.rank)
        let aShape = [Int](repeating: 1, count: rank - a.rank) + a.shape
        let bShape = [Int](repeating: 1, count: rank - b.rank) + b.shape
        var shape: [Int] = []
        for (x, y) in zip(aShape, bShape) {
            guard x == y || x == 1 || y == 1 else { throw ImportFailure.invalid("cannot broadcast \(a.shape) with \(b.shape)") }
            shape.append(x == 1 ? y : x)
        }
        guard let count = checkedProduct(shape), count <= limit else {
            throw ImportFailure.unsupported("broadcasting \(a.shape) with \(b.shape) gives more than \(limit) elements to fold")
        }
        let aStrides = zip(strides(aShape), aShape).map { $1 == 1 ? 0 : $0 }
        let bStrides = zip(strides(bShape), bShape).map { $1 == 1 ? 0 : $0 }
        var aIndex: [Int] = []
        var bIndex: [Int] = []
        forEachIndex(shape) { index in
            var i = 0, j = 0
            for axis in 0..<rank {
                i += index[axis] * aStrides[axis]
                j += index[axis] * bStrides[axis]
            }
            aIndex.append(i)
            bIndex.append(j)
        }
        if a.isFloat || b.isFloat {
            guard let x = a.floatValues, let y = b.floatValues else {
                throw ImportFailure.unsupported("float arithmetic on a value depending on the batch size")
            }
            return ConstantTensor(shape: shape, floats: zip(aIndex, bIndex).map { float(x[$0], y[$1]) })
        }
        let x = a.symbolicIntegers, y = b.symbolicIntegers
        return ConstantTensor(shape: shape, integers: zip(aIndex, bIndex).map { integer(x[$0], y[$1]) })
    }

    private static func gather(_ data: ConstantTensor, indices: ConstantTensor, axis rawAxis: Int,
                               limit: Int) throws -> ConstantTensor {
        guard data.rank >= 1 else { throw ImportFailure.invalid("Gather from a scalar") }
        let axis = try normalizeAxis(rawAxis, rank: data.rank)
        guard let positions = indices.intValues else { throw ImportFailure.unsupported("Gather with symbolic indices") }
        let size = data.shape[axis]
        let resolved = try positions.map { position -> Int in
            let p = position < 0 ? position + size : position
            guard p >= 0, p < size else { throw ImportFailure.invalid("Gather index \(position) out of range 0..<\(size)") }
            return p
        }
        let outer = data.shape[..<axis].reduce(1, *)
        let inner = data.shape[(axis + 1)...].reduce(1, *)
        let shape = Array(data.shape[..<axis]) + indices.shape + Array(data.shape[(axis + 1)...])
        guard let count = checkedProduct([outer, resolved.count, inner]), count <= limit else {
            throw ImportFailure.unsupported("Gather result of more than \(limit) elements to fold")
        }
        return data.gathered(shape: shape, count: count) { flat in
            let o = flat / (resolved.count * inner)
            let k = (flat / inner) % resolved.count
            return (o * size + resolved[k]) * inner + flat % inner
        }
    }

    private static func concat(_ values: [ConstantTensor], axis rawAxis: Int) throws -> ConstantTensor {
        guard let first = values.first, first.rank >= 1 else { throw ImportFailure.invalid("Concat of nothing or of scalars") }
        let axis = try normalizeAxis(rawAxis, rank: first.rank)
        for value in values where value.rank != first.rank
            || zip(value.shape, first.shape).enumerated().contains(where: { $0.offset != axis && $0.element.0 != $0.element.1 }) {
            throw ImportFailure.invalid("Concat of shapes \(values.map(\.shape)) on axis \(axis)")
        }
        let outer = first.shape[..<axis].reduce(1, *)
        let inner = first.shape[(axis + 1)...].reduce(1, *)
        var shape = first.shape
        shape[axis] = values.reduce(0) { $0 + $1.shape[axis] }
        if values.contains(where: \.isFloat) {
            var result: [Float] = []
            for o in 0..<outer {
                for value in values {
                    guard let floats = value.floatValues else { throw ImportFailure.unsupported("Concat of floats and a symbolic value") }
                    let block = value.shape[axis] * inner
                    result.append(contentsOf: floats[(o * block)..<((o + 1) * block)])
                }
            }
            return ConstantTensor(shape: shape, floats: result)
        }
        var result: [SymbolicInteger] = []
        for o in 0..<outer {
            for value in values {
                let block = value.shape[axis] * inner
                result.append(contentsOf: value.symbolicIntegers[(o * block)..<((o + 1) * block)])
            }
        }
        return ConstantTensor(shape: shape, integers: result)
    }

    /// ONNX `Slice`: starts and ends are clamped to the axis as the operator defines.
    private static func slice(_ x: ConstantTensor, starts: [Int], ends: [Int], axes: [Int], steps: [Int]) throws -> ConstantTensor {
        guard axes.count == starts.count, steps.count == starts.count else {
            throw ImportFailure.invalid("Slice starts, ends, axes and steps differ in length")
        }
        var ranges = x.shape.map { (start: 0, step: 1, count: $0) }
        for (k, rawAxis) in axes.enumerated() {
            let axis = try normalizeAxis(rawAxis, rank: x.rank)
            let range = try sliceRange(start: starts[k], end: ends[k], step: steps[k], size: x.shape[axis])
            ranges[axis] = range
        }
        let shape = ranges.map(\.count)
        let sourceStrides = strides(x.shape)
        var map: [Int] = []
        forEachIndex(shape) { index in
            var flat = 0
            for axis in 0..<index.count { flat += (ranges[axis].start + index[axis] * ranges[axis].step) * sourceStrides[axis] }
            map.append(flat)
        }
        return x.gathered(shape: shape, count: map.count) { map[$0] }
    }

    /// First index, step and length of one axis of an ONNX `Slice`.
    static func sliceRange(start: Int, end: Int, step: Int, size: Int) throws -> (start: Int, step: Int, count: Int) {
        guard step != 0, step != Int.min else { throw ImportFailure.invalid("Slice step \(step)") }
        var s = start < 0 ? start + size : start
        var e = end < 0 ? end + size : end
        if step > 0 {
            s = min(max(s, 0), size)
            e = min(max(e, 0), size)
            return (s, step, e > s ? (e - s - 1) / step + 1 : 0)
        }
        s = min(max(s, 0), size - 1)
        e = min(max(e, -1), size - 1)
        return (s, step, s > e ? (s - e - 1) / -step + 1 : 0)
    }

    private static func transpose(_ x: ConstantTensor, perm: [Int]) throws -> ConstantTensor {
        guard perm.count == x.rank, Set(perm) == Set(0..<x.rank) else {
            throw ImportFailure.invalid("Transpose perm \(perm) for rank \(x.rank)")
        }
        let shape = perm.map { x.shape[$0] }
        let sourceStrides = strides(x.shape)
        var map: [Int] = []
        map.reserveCapacity(x.elementCount)
        forEachIndex(shape) { index in
            var flat = 0
            for axis in 0..<index.count { flat += index[axis] * sourceStrides[perm[axis]] }
            map.append(flat)
        }
        return x.gathered(shape: shape, count: map.count) { map[$0] }
    }
}
