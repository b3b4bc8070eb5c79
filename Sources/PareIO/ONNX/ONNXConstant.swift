import Foundation
import PareCore

/// An integer known while importing, or known to depend on the batch size.
///
/// `Shape` of an activation yields `[batch, C, H, W]`: exporters compute reshape targets from
/// such vectors (`x.view(x.size(0), -1)`), so the batch size travels through the folding
/// of `Gather`, `Unsqueeze`, `Concat` and friends as a symbol.
enum SymbolicInteger: Equatable, CustomStringConvertible {
    case known(Int)
    /// The batch size (dimension 0 of an activation).
    case batch
    /// Computed from the batch size (`batch * 2`): not needed by any supported pattern.
    case unknown

    var value: Int? {
        if case let .known(v) = self { return v }
        return nil
    }

    var description: String {
        switch self {
        case let .known(v): return String(v)
        case .batch: return "batch"
        case .unknown: return "?"
        }
    }
}

/// A tensor known while importing: an initializer, a `Constant`, or a value computed from
/// them and from activation shapes (constant folding). Row-major; floats or integers.
struct ConstantTensor {
    enum Elements {
        case floats([Float])
        case integers([SymbolicInteger])
    }

    var shape: [Int]
    var elements: Elements

    init(shape: [Int], floats: [Float]) {
        self.shape = shape
        self.elements = .floats(floats)
    }

    init(shape: [Int], integers: [SymbolicInteger]) {
        self.shape = shape
        self.elements = .integers(integers)
    }

    init(shape: [Int], ints: [Int]) {
        self.init(shape: shape, integers: ints.map { .known($0) })
    }

    var elementCount: Int { shape.reduce(1, *) }
    var rank: Int { shape.count }

    var isFloat: Bool {
        if case .floats = elements { return true }
        return false
    }

    /// The elements as floats (integers converted); nil if one is symbolic.
    var floatValues: [Float]? {
        switch elements {
        case let .floats(values): return values
        case let .integers(values):
            var result: [Float] = []
            result.reserveCapacity(values.count)
            for value in values {
                guard let v = value.value else { return nil }
                result.append(Float(v))
            }
            return result
        }
    }

    /// The elements as symbolic integers (floats truncated toward zero, as `Cast` does).
    var symbolicIntegers: [SymbolicInteger] {
        switch elements {
        case let .integers(values): return values
        case let .floats(values):
            return values.map { $0.isFinite && abs($0) < 9e18 ? .known(Int($0)) : .unknown }
        }
    }

    /// The elements as integers; nil if one is symbolic.
    var intValues: [Int]? {
        let values = symbolicIntegers
        var result: [Int] = []
        result.reserveCapacity(values.count)
        for value in values {
            guard let v = value.value else { return nil }
            result.append(v)
        }
        return result
    }

    /// A short form for error messages: shape and up to 8 elements.
    var summary: String {
        let items: [String]
        switch elements {
        case let .floats(values): items = values.prefix(8).map { "\($0)" }
        case let .integers(values): items = values.prefix(8).map(\.description)
        }
        return "[\(shape.map(String.init).joined(separator: "x"))] {\(items.joined(separator: ", "))\(elementCount > 8 ? ", ..." : "")}"
    }

    /// An f32 Pare tensor of the elements (which must not be symbolic).
    func tensor(shape newShape: [Int]? = nil) -> Tensor? {
        guard let values = floatValues else { return nil }
        let target = newShape ?? shape
        guard target.reduce(1, *) == values.count, target.allSatisfy({ $0 >= 0 }) else { return nil }
        return try? Tensor(shape: Shape(target), values: values)
    }

    /// The same elements in another order: element `i` of the result is element `map(i)`.
    func gathered(shape newShape: [Int], count: Int, _ map: (Int) -> Int) -> ConstantTensor {
        switch elements {
        case let .floats(values):
            return ConstantTensor(shape: newShape, floats: (0..<count).map { values[map($0)] })
        case let .integers(values):
            return ConstantTensor(shape: newShape, integers: (0..<count).map { values[map($0)] })
        }
    }
}

// MARK: - TensorProto decoding

/// The largest tensor the importer reads (elements): far beyond any CNN, small enough that
/// a corrupt shape cannot ask for an absurd allocation.
private let maxElementCount = Shape.maxElementCount

extension ConstantTensor {
    /// Decodes an initializer or `Constant` value. Throws a reason (for an invalid-model
    /// error) when the dims, type or data do not agree.
    init(proto: Onnx_TensorProto) throws {
        let name = proto.name.isEmpty ? "a tensor" : "tensor '\(proto.name)'"
        guard proto.dataLocation != .external, proto.externalData.isEmpty else {
            throw ImportFailure.invalid("\(name) keeps its data in an external file, which the importer does not read; "
                                        + "save the model with its weights inside (onnx.save(model, path, save_as_external_data=False))")
        }
        guard !proto.hasSegment else { throw ImportFailure.invalid("\(name) is segmented, which the importer does not read") }
        var count = 1
        var dims: [Int] = []
        for dim in proto.dims {
            guard dim >= 0, dim <= Int64(maxElementCount) else { throw ImportFailure.invalid("\(name) has dimension \(dim)") }
            let (product, overflow) = count.multipliedReportingOverflow(by: Int(dim))
            guard !overflow, product <= maxElementCount else {
                throw ImportFailure.invalid("\(name) has dims \(proto.dims), too many elements")
            }
            count = product
            dims.append(Int(dim))
        }
        let raw = proto.hasRawData ? proto.rawData : nil
        func checkCount(_ found: Int, _ field: String) throws {
            guard found == count else {
                throw ImportFailure.invalid("\(name) has dims \(proto.dims) (\(count) elements) but \(found) in \(field)")
            }
        }
        func rawValues<T>(_ type: T.Type, _ convert: (T) -> Float) throws -> [Float] {
            try checkCount(raw!.count / MemoryLayout<T>.size, "raw_data")
            guard raw!.count == count * MemoryLayout<T>.size else {
                throw ImportFailure.invalid("\(name): raw_data of \(raw!.count) bytes is no whole number of elements")
            }
            return raw!.withUnsafeBytes { bytes in
                (0..<count).map { convert(bytes.loadUnaligned(fromByteOffset: $0 * MemoryLayout<T>.size, as: T.self)) }
            }
        }
        func rawIntegers<T: BinaryInteger>(_ type: T.Type) throws -> [SymbolicInteger] {
            try checkCount(raw!.count / MemoryLayout<T>.size, "raw_data")
            guard raw!.count == count * MemoryLayout<T>.size else {
                throw ImportFailure.invalid("\(name): raw_data of \(raw!.count) bytes is no whole number of elements")
            }
            return raw!.withUnsafeBytes { bytes in
                (0..<count).map {
                    let value = bytes.loadUnaligned(fromByteOffset: $0 * MemoryLayout<T>.size, as: T.self)
                    return Int(exactly: value).map(SymbolicInteger.known) ?? .unknown
                }
            }
        }

        typealias DataType = Onnx_TensorProto.DataType
        let dataType = DataType(rawValue: Int(proto.dataType))
        switch dataType {
        case .float?:
            if let raw {
                try checkCount(raw.count / 4, "raw_data")
                guard raw.count == count * 4 else {
                    throw ImportFailure.invalid("\(name): raw_data of \(raw.count) bytes is no whole number of elements")
                }
                // Little-endian, as on every platform Pare runs on: a plain copy.
                let floats = [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
                    _ = raw.copyBytes(to: buffer)
                    initialized = count
                }
                self.init(shape: dims, floats: floats)
            } else {
                try checkCount(proto.floatData.count, "float_data")
                self.init(shape: dims, floats: proto.floatData)
            }
        case .double?:
            if raw != nil {
                self.init(shape: dims, floats: try rawValues(Double.self) { Float($0) })
            } else {
                try checkCount(proto.doubleData.count, "double_data")
                self.init(shape: dims, floats: proto.doubleData.map { Float($0) })
            }
        case .float16?, .bfloat16?:
            let isHalf = dataType == .float16
            let convert: (UInt16) -> Float = { bits in isHalf ? floatFromHalf(bits) : Float(bitPattern: UInt32(bits) << 16) }
            if raw != nil {
                self.init(shape: dims, floats: try rawValues(UInt16.self, convert))
            } else {
                try checkCount(proto.int32Data.count, "int32_data")
                self.init(shape: dims, floats: proto.int32Data.map { convert(UInt16(truncatingIfNeeded: $0)) })
            }
        case .int64?:
            if raw != nil {
                self.init(shape: dims, integers: try rawIntegers(Int64.self))
            } else {
                try checkCount(proto.int64Data.count, "int64_data")
                self.init(shape: dims, integers: proto.int64Data.map { .known(Int($0)) })
            }
        case .int32?, .int16?, .int8?, .uint8?, .uint16?, .bool?:
            if raw != nil {
                switch dataType {
                case .int32?: self.init(shape: dims, integers: try rawIntegers(Int32.self))
                case .int16?: self.init(shape: dims, integers: try rawIntegers(Int16.self))
                case .int8?: self.init(shape: dims, integers: try rawIntegers(Int8.self))
                case .uint16?: self.init(shape: dims, integers: try rawIntegers(UInt16.self))
                default: self.init(shape: dims, integers: try rawIntegers(UInt8.self))
                }
            } else {
                try checkCount(proto.int32Data.count, "int32_data")
                self.init(shape: dims, integers: proto.int32Data.map { .known(Int($0)) })
            }
        case .uint32?, .uint64?:
            if raw != nil {
                self.init(shape: dims, integers: dataType == .uint32 ? try rawIntegers(UInt32.self) : try rawIntegers(UInt64.self))
            } else {
                try checkCount(proto.uint64Data.count, "uint64_data")
                self.init(shape: dims, integers: proto.uint64Data.map { Int(exactly: $0).map(SymbolicInteger.known) ?? .unknown })
            }
        default:
            let typeName = dataType.map { "\($0)" } ?? "\(proto.dataType)"
            throw ImportFailure.invalid("\(name) has element type \(typeName); the importer reads float, double, "
                                        + "float16, bfloat16 and integer tensors")
        }
    }
}

/// IEEE 754 half precision to single precision.
private func floatFromHalf(_ bits: UInt16) -> Float {
    let sign = UInt32(bits >> 15) << 31
    let exponent = Int((bits >> 10) & 0x1F)
    let mantissa = UInt32(bits & 0x3FF)
    if exponent == 0x1F { return Float(bitPattern: sign | 0x7F80_0000 | (mantissa << 13)) }
    if exponent == 0 {
        let magnitude = Float(mantissa) * Float(sign: .plus, exponent: -24, significand: 1)
        return sign == 0 ? magnitude : -magnitude
    }
    return Float(bitPattern: sign | UInt32(exponent + 112) << 23 | (mantissa << 13))
}

/// A failure inside the importer before it knows the node or file: turned into an
/// ``ONNXImportError`` by the caller, which adds the context.
enum ImportFailure: Error {
    /// The model is not valid ONNX.
    case invalid(String)
    /// Valid ONNX that Pare's graph cannot express.
    case unsupported(String)
}
