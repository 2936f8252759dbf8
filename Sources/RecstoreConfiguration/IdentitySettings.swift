import Foundation

/// Who may call the API: `AUTH0_*`, `JWT_*` and `JWKS_*`. Issuer, audience and a
/// JWKS source come all three or the service refuses to start.
public struct IdentitySettings: Sendable {
    /// Where the JWKS comes from.
    public enum KeySource: Sendable, Equatable {
        case url(String)
        case file(String)
    }

    public var issuer: String = ""
    public var audience: String = ""
    public var jwksSource: KeySource = .file("")
    /// Asymmetric algorithms accepted; never `none` or HS*.
    public var algorithms: [String] = ["RS256"]
    public var leewaySeconds: Int = 60
    public var jwksTTLSeconds: Int = 600
    public var jwksTimeoutSeconds: Int = 5

    public init() {}

    /// `required: false` is for commands that never verify a token (`recstore
    /// sync`): issuer, audience and source are then left empty when incomplete.
    public init(_ reader: EnvironmentReader, required: Bool = true) throws(ConfigurationError) {
        var domain: String?
        if let (_, raw) = reader.value("AUTH0_DOMAIN") {
            var d = raw
            for p in ["https://", "http://"] where d.hasPrefix(p) { d = String(d.dropFirst(p.count)) }
            while d.hasSuffix("/") { d.removeLast() }
            domain = d
        }
        let issuer = reader.value("AUTH0_ISSUER")?.value ?? domain.map { "https://\($0)/" }
        let audience = reader.value("AUTH0_AUDIENCE")?.value
        var source: KeySource?
        if let (_, f) = reader.value("AUTH0_JWKS_FILE") {
            source = .file(f)
        } else if let (name, u) = reader.value("AUTH0_JWKS_URL") {
            try Self.checkJWKSURL(u, variable: name)
            source = .url(u)
        } else if let domain {
            source = .url("https://\(domain)/.well-known/jwks.json")
        }
        var missing: [String] = []
        if issuer == nil { missing.append("an issuer (AUTH0_DOMAIN or AUTH0_ISSUER)") }
        if audience == nil { missing.append("an audience (AUTH0_AUDIENCE)") }
        if source == nil { missing.append("a JWKS source (AUTH0_DOMAIN, AUTH0_JWKS_URL or AUTH0_JWKS_FILE)") }
        if let issuer, let audience, let source {
            self.issuer = issuer
            self.audience = audience
            self.jwksSource = source
        } else if required {
            throw ConfigurationError(issuer == nil ? "AUTH0_DOMAIN" : (audience == nil ? "AUTH0_AUDIENCE" : "AUTH0_JWKS_URL"),
                                     "refusing to start without " + missing.joined(separator: ", ") + ": the service is never open")
        }
        if let (_, v) = reader.value("JWT_ALGORITHMS") {
            let algs = v.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces).uppercased() }
            let allowed: Set<String> = ["RS256", "RS384", "RS512"]
            guard !algs.isEmpty, algs.allSatisfy(allowed.contains) else {
                throw ConfigurationError("JWT_ALGORITHMS", "must list asymmetric algorithms among RS256, RS384, RS512, got \"\(v)\"")
            }
            algorithms = algs
        }
        if let n = try reader.int("JWT_LEEWAY_SECONDS", 0...3600) { leewaySeconds = n }
        if let n = try reader.int("JWKS_TTL_SECONDS", 10...86_400) { jwksTTLSeconds = n }
        if let n = try reader.int("JWKS_TIMEOUT_SECONDS", 1...60) { jwksTimeoutSeconds = n }
    }

    /// https always; plain http only to a loopback host (tests, a local dev issuer).
    static func checkJWKSURL(_ u: String, variable: String) throws(ConfigurationError) {
        guard let url = URLComponents(string: u), let scheme = url.scheme?.lowercased(), let host = url.host else {
            throw ConfigurationError(variable, "must be a URL, got \"\(u)\"")
        }
        if scheme == "https" { return }
        if scheme == "http" && ["127.0.0.1", "localhost", "::1", "[::1]"].contains(host.lowercased()) { return }
        throw ConfigurationError(variable, "must be https (plain http is allowed only to a loopback host), got \"\(u)\"")
    }
}
