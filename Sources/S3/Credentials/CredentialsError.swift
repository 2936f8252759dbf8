/// Why credentials could not be resolved, in plain words (shown by `recstore check`
/// and in 503 log lines).
public struct CredentialsError: Error, CustomStringConvertible, Sendable, Equatable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
