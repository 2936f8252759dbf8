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
    /// For `/readyz` detail: something worth saying that does not make the service
    /// unready (e.g. the JWKS is stale but its keys still serve).
    func readinessWarning() -> String?
}

extension Authenticator {
    public func readinessWarning() -> String? { nil }
}
