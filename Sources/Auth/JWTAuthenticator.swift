import Configuration
import Diagnostics
import HTTP

/// Auth0 (or dev issuer) bearer tokens: `Authorization: Bearer <JWT>` → the
/// token's `sub`, per API.md "Identity and access". Safe to share between
/// request threads.
public final class JWTAuthenticator: Authenticator {
    public let jwks: JWKSCache
    private let verifier: TokenVerifier
    private let verified: VerifiedTokenCache
    private let clock: EpochClock
    private let signatureChecks = EventCounter()

    /// Loads the JWKS now (start-up), so the first request does not pay for it
    /// and `/readyz` knows at once whether keys could be loaded.
    public convenience init(configuration c: Configuration, clock: @escaping EpochClock = systemClock,
                            minRefetchInterval: Double = 30) {
        let fetcher = JWKSFetcher(source: c.jwksSource, timeoutSeconds: Double(c.jwksTimeoutSeconds))
        let jwks = JWKSCache(fetch: {
            do {
                let keys = try fetcher.fetch()
                Metrics.jwksFetch(.success)
                return keys
            } catch {
                Metrics.jwksFetch(.failure)
                throw error
            }
        }, sourceDescription: fetcher.sourceDescription,
                             ttl: Double(c.jwksTTLSeconds), minRefetchInterval: minRefetchInterval,
                             fetchTimeout: Double(c.jwksTimeoutSeconds), clock: clock)
        self.init(issuer: c.issuer, audience: c.audience, algorithms: c.algorithms,
                  leewaySeconds: Double(c.leewaySeconds), jwks: jwks, clock: clock)
        jwks.load()
    }

    /// With a JWKS cache of the caller's making (loaded or not).
    public init(issuer: String, audience: String, algorithms: [String] = ["RS256"], leewaySeconds: Double = 60,
                jwks: JWKSCache, clock: @escaping EpochClock = systemClock, verifiedCacheCapacity: Int = 4096) {
        self.jwks = jwks
        self.clock = clock
        self.verified = VerifiedTokenCache(capacity: verifiedCacheCapacity)
        self.verifier = TokenVerifier(issuer: issuer, audience: audience, algorithms: algorithms,
                                      leewaySeconds: leewaySeconds, jwks: jwks, clock: clock,
                                      signatureChecks: signatureChecks)
    }

    /// Signature checks done so far (a token seen again within its life is not re-checked).
    public var verificationCount: Int { signatureChecks.value }
    public var jwksFetchCount: Int { jwks.fetchCount }

    /// Sets `request.caller` and returns the principal, or throws a 401 `HTTPError`
    /// with `WWW-Authenticate` (503 with `Retry-After` while no JWKS key was ever loaded).
    public func authenticate(_ request: Request) throws -> Principal {
        let span = RequestContext.span(.auth)
        defer { span.end() }
        let token = try bearerToken(request)
        let subject = try verify(token, requestID: request.requestID)
        request.caller = subject
        return Principal(subject: subject)
    }

    /// The verified subject of a raw token.
    public func verify(_ token: String, requestID: String = "") throws(HTTPError) -> String {
        let digest = VerifiedTokenCache.Digest(token)
        if let hit = verified.lookup(digest, now: clock(), leeway: verifier.leewaySeconds, generation: jwks.generation) {
            Metrics.tokenCache(hit: true)
            jwks.refreshIfDue()
            return hit.subject
        }
        Metrics.tokenCache(hit: false)
        do {
            let result = try verifier.verify(token)
            verified.insert(digest, result)
            return result.subject
        } catch {
            switch error {
            case .invalid(let reason):
                Log.info("token refused", ["request_id": requestID, "reason": reason])
                throw Self.unauthorized("Invalid token: \(reason)", error: reason)
            case .unavailable(let retryAfter):
                Log.warning("token not checked: no JWKS key loaded", ["request_id": requestID, "source": jwks.sourceDescription])
                throw HTTPError.unavailable("Authentication is unavailable: no JWKS key could be loaded", retryAfter: retryAfter)
            }
        }
    }

    public func readinessProblem() -> String? { jwks.readinessProblem() }

    /// Stale keys are a warning, not a readiness problem: they still verify tokens,
    /// and a 503 from every worker while the issuer is down would take the whole
    /// service out of its load balancer exactly when the cache can keep it up.
    public func readinessWarning() -> String? { jwks.staleness() }

    // MARK: - Authorization header

    private func bearerToken(_ request: Request) throws(HTTPError) -> String {
        guard let value = request.headers["Authorization"], !value.utf8.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) else {
            // RFC 6750 §3.1: no error code when no credentials were sent at all.
            throw Self.unauthorized("Not authenticated", error: nil)
        }
        let trimmed = Substring(value.utf8.drop { $0 == 0x20 || $0 == 0x09 })
        let scheme = Substring(trimmed.utf8.prefix { $0 != 0x20 && $0 != 0x09 })
        guard String(scheme).caseInsensitiveEquals("Bearer") else {
            Log.info("token refused", ["request_id": request.requestID, "reason": "Authorization scheme is not Bearer"])
            throw Self.unauthorized("Invalid token: the Authorization scheme must be Bearer",
                                    error: "the Authorization scheme must be Bearer")
        }
        let token = trimmed[scheme.endIndex...].trimmingSpaces()
        guard !token.isEmpty else {
            Log.info("token refused", ["request_id": request.requestID, "reason": "no token after Bearer"])
            throw Self.unauthorized("Invalid token: no token after Bearer", error: "no token after Bearer")
        }
        return token
    }

    static func unauthorized(_ detail: String, error description: String?) -> HTTPError {
        var challenge = "Bearer realm=\"recstore\""
        if let description {
            // Descriptions are fixed phrases; still, keep the header well-formed (RFC 6750 §3).
            let safe = description.unicodeScalars.filter { $0.value >= 0x20 && $0.value < 0x7F && $0 != "\"" && $0 != "\\" }
            challenge += ", error=\"invalid_token\", error_description=\"\(String(String.UnicodeScalarView(safe)))\""
        }
        var headers = Headers()
        headers.set("WWW-Authenticate", challenge)
        return HTTPError(.unauthorized, detail, headers: headers)
    }
}

private extension Substring {
    /// Spaces and tabs off both ends, on UTF-8 bytes: this runs on every request,
    /// and the Character-based `reversed()` form cost more than the rest of it.
    func trimmingSpaces() -> String {
        let bytes = utf8
        var start = bytes.startIndex, end = bytes.endIndex
        while start < end, bytes[start] == 0x20 || bytes[start] == 0x09 { start = bytes.index(after: start) }
        while end > start {
            let before = bytes.index(before: end)
            guard bytes[before] == 0x20 || bytes[before] == 0x09 else { break }
            end = before
        }
        return String(self[start..<end])
    }
}
