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
    public convenience init(options o: AuthOptions, clock: @escaping EpochClock = systemClock,
                            minRefetchInterval: Double = 30) {
        let fetcher = JWKSFetcher(source: o.jwksSource, timeoutSeconds: Double(o.jwksTimeoutSeconds))
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
                             ttl: Double(o.jwksTTLSeconds), minRefetchInterval: minRefetchInterval,
                             fetchTimeout: Double(o.jwksTimeoutSeconds), clock: clock)
        self.init(issuer: o.issuer, audience: o.audience, algorithms: o.algorithms,
                  leewaySeconds: Double(o.leewaySeconds), jwks: jwks, clock: clock)
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

    /// The principal of the request's bearer token, or a `TokenFailure`: 401 with
    /// `WWW-Authenticate` (503 with `Retry-After` while no JWKS key was ever loaded).
    /// It does not touch the request: the API sets the caller (`APIContext.caller`).
    public func authenticate(_ request: Request) throws -> Principal {
        let span = RequestContext.span(.auth)
        defer { span.end() }
        let token: String
        switch request.bearerCredentials {
        case .absent:
            // RFC 6750 §3.1: no error code when no credentials were sent at all.
            throw TokenFailure.missing
        case .otherScheme:
            throw refusal("the Authorization scheme must be Bearer", requestID: request.requestID)
        case .empty:
            throw refusal("no token after Bearer", requestID: request.requestID)
        case .token(let t):
            token = t
        }
        return Principal(subject: try verify(token, requestID: request.requestID))
    }

    private func refusal(_ reason: String, requestID: String) -> TokenFailure {
        Log.info("token refused", ["request_id": requestID, "reason": reason])
        return .invalid(reason)
    }

    /// The verified subject of a raw token; a refusal says its status (`TokenFailure`).
    public func verify(_ token: String, requestID: String = "") throws(TokenFailure) -> String {
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
            case .unavailable:
                Log.warning("token not checked: no JWKS key loaded", ["request_id": requestID, "source": jwks.sourceDescription])
            case .missing:
                break
            }
            throw error
        }
    }

    public func readinessProblem() -> String? { jwks.readinessProblem() }

    /// Stale keys are a warning, not a readiness problem: they still verify tokens,
    /// and a 503 from every worker while the issuer is down would take the whole
    /// service out of its load balancer exactly when the cache can keep it up.
    public func readinessWarning() -> String? { jwks.staleness() }
}
