/// The attributes of one ONNX node, read with their types checked.
///
/// Older files leave `AttributeProto.type` unset; then the field that is present decides.
struct NodeAttributes {
    private var byName: [String: Onnx_AttributeProto] = [:]

    init(_ node: Onnx_NodeProto) {
        for attribute in node.attribute { byName[attribute.name] = attribute }
    }

    func has(_ name: String) -> Bool { byName[name] != nil }

    private func attribute(_ name: String, _ type: Onnx_AttributeProto.AttributeType, present: (Onnx_AttributeProto) -> Bool)
        throws -> Onnx_AttributeProto? {
        guard let attribute = byName[name] else { return nil }
        guard attribute.type == type || (attribute.type == .undefined && present(attribute)) else {
            throw ImportFailure.invalid("attribute '\(name)' is \(attribute.type), expected \(type)")
        }
        return attribute
    }

    func int(_ name: String) throws -> Int? {
        try attribute(name, .int) { $0.hasI }.map { Int($0.i) }
    }

    func int(_ name: String, default value: Int) throws -> Int { try int(name) ?? value }

    func ints(_ name: String) throws -> [Int]? {
        try attribute(name, .ints) { !$0.ints.isEmpty }.map { $0.ints.map { Int($0) } }
    }

    func float(_ name: String) throws -> Float? {
        try attribute(name, .float) { $0.hasF }.map(\.f)
    }

    func float(_ name: String, default value: Float) throws -> Float { try float(name) ?? value }

    func floats(_ name: String) throws -> [Float]? {
        try attribute(name, .floats) { !$0.floats.isEmpty }.map(\.floats)
    }

    func string(_ name: String) throws -> String? {
        try attribute(name, .string) { $0.hasS }.map { String(decoding: $0.s, as: UTF8.self) }
    }

    func tensor(_ name: String) throws -> Onnx_TensorProto? {
        try attribute(name, .tensor) { $0.hasT }.map(\.t)
    }

    /// Names of the attributes present, for messages.
    var names: [String] { byName.keys.sorted() }
}
