/// A one-line account of a `Decodable` failure: where in the JSON, and what.
func describeDecodingError(_ error: Error) -> String {
    let context: DecodingError.Context
    switch error {
    case let DecodingError.dataCorrupted(c): context = c
    case let DecodingError.keyNotFound(_, c): context = c
    case let DecodingError.typeMismatch(_, c): context = c
    case let DecodingError.valueNotFound(_, c): context = c
    default: return "\(error)"
    }
    let path = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
    var text = path.isEmpty ? context.debugDescription : "\(path): \(context.debugDescription)"
    if let underlying = context.underlyingError { text += " (\(underlying))" }
    return text
}
