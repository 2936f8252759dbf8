import RecstoreConfiguration

/// Everything token verification needs, given explicitly: the service builds it from
/// its configuration (`init(configuration:)`), tests and tools build it directly.
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

    /// The `AUTH0_*`, `JWT_*` and `JWKS_*` settings of the service's configuration.
    public init(configuration c: Configuration) {
        let i = c.identity
        self.init(issuer: i.issuer, audience: i.audience, algorithms: i.algorithms, leewaySeconds: i.leewaySeconds,
                  jwksSource: i.jwksSource, jwksTTLSeconds: i.jwksTTLSeconds, jwksTimeoutSeconds: i.jwksTimeoutSeconds)
    }
}
