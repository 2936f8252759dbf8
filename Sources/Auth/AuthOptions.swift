/// Everything token verification needs, given explicitly: the service builds it from
/// its configuration (in Operations, `AuthOptions(_ identity:)`), tests and tools build
/// it directly.
public struct AuthOptions: Sendable, Equatable {
    public var issuer: String
    public var audience: String
    /// Among RS256, RS384, RS512; anything else is never accepted.
    public var algorithms: [String]
    /// Clock skew allowed on exp, nbf and iat.
    public var leewaySeconds: Int
    public var jwksSource: JWKSSource
    public var jwksTTLSeconds: Int
    public var jwksTimeoutSeconds: Int

    public init(issuer: String, audience: String, algorithms: [String] = ["RS256"], leewaySeconds: Int = 60,
                jwksSource: JWKSSource, jwksTTLSeconds: Int = 600, jwksTimeoutSeconds: Int = 5) {
        self.issuer = issuer
        self.audience = audience
        self.algorithms = algorithms
        self.leewaySeconds = leewaySeconds
        self.jwksSource = jwksSource
        self.jwksTTLSeconds = jwksTTLSeconds
        self.jwksTimeoutSeconds = jwksTimeoutSeconds
    }
}

/// Where the JWKS comes from.
public enum JWKSSource: Sendable, Equatable {
    case url(String)
    case file(String)
}
