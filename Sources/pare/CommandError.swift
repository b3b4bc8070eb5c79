/// A failure a command reports to the user as one sentence (printed as `Error: ...`,
/// exit status 1).
struct CommandError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
