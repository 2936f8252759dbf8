import HTTP

/// Who is calling, from a verified token.
public struct Principal: Sendable, Equatable {
    public let subject: String
    public init(subject: String) { self.subject = subject }
}

/// Turns a request's `Authorization` header into a principal, or throws a 401
/// `HTTPError` carrying `WWW-Authenticate`.
public protocol Authenticator: Sendable {
    func authenticate(_ request: Request) throws -> Principal
    /// For `/readyz`: nil when usable, else why not (e.g. "no JWKS key loaded").
    func readinessProblem() -> String?
}
