import CJWT
import HTTP
import JSON

/// Why a token was not accepted.
public enum TokenFailure: Error, Equatable, Sendable {
    /// 401. The reason is a fixed phrase, never token content: it is safe in a
    /// header and in the log.
    case invalid(String)
    /// 401 without an error code: no credentials were sent at all (RFC 6750 §3.1).
    case missing
    /// 503: no signing key could be loaded yet, so no token can be checked.
    case unavailable(retryAfter: Int)
}

/// What a verified token says, as far as recstore cares.
public struct VerifiedToken: Sendable, Equatable {
    public let subject: String
    public let expiresAt: Double
    /// The JWKS generation the signature was checked against.
    public let keyGeneration: Int
}

/// The checks, in the order that keeps libjwt 1.10.2 safe: everything it cannot
/// be trusted with (algorithm choice, key choice, every claim) is done here.
public struct TokenVerifier: Sendable {
    public static let maxTokenBytes = 8 * 1024

    public let issuer: String
    public let audience: String
    /// Only RSA signature algorithms can ever be allowed: the keys are RSA.
    public let algorithms: Set<String>
    public let leewaySeconds: Double
    public let jwks: JWKSCache
    let clock: EpochClock
    /// Counts signature checks (the expensive part), for tests and metrics.
    let signatureChecks: EventCounter

    public init(issuer: String, audience: String, algorithms: [String], leewaySeconds: Double, jwks: JWKSCache,
                clock: @escaping EpochClock = systemClock, signatureChecks: EventCounter = EventCounter()) {
        self.issuer = issuer
        self.audience = audience
        self.algorithms = Set(algorithms).intersection(JWKSet.rsaAlgorithms)
        self.leewaySeconds = leewaySeconds
        self.jwks = jwks
        self.clock = clock
        self.signatureChecks = signatureChecks
    }

    public func verify(_ token: String) throws(TokenFailure) -> VerifiedToken {
        // 1. Shape, before any crypto.
        guard token.utf8.count <= Self.maxTokenBytes else { throw .invalid("token is larger than 8 KiB") }
        let parts = token.utf8.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        guard parts.count == 3 else { throw .invalid("token must have three dot-separated parts") }
        guard let headerBytes = Base64URL.decode(Substring(parts[0])) else { throw .invalid("token header is not base64url") }
        guard case .object(let header)? = try? JSON.parse(headerBytes, maxDepth: 8) else {
            throw .invalid("token header is not a JSON object")
        }
        // 2. Algorithm: ours, not the token's choice; then the rest of the shape.
        guard let alg = header["alg"]?.stringValue else { throw .invalid("token header has no alg") }
        guard algorithms.contains(alg) else {
            if alg.caseInsensitiveEquals("none") { throw .invalid("alg none is not allowed") }
            if alg.uppercased().hasPrefix("HS") { throw .invalid("HMAC algorithms are not allowed") }
            throw .invalid("algorithm not allowed")
        }
        // RFC 7515 §4.1.11: extensions we do not understand must not be ignored.
        guard header["crit"] == nil else { throw .invalid("unsupported critical header parameters") }
        guard let payloadBytes = Base64URL.decode(Substring(parts[1])) else { throw .invalid("token payload is not base64url") }
        guard let signature = Base64URL.decode(Substring(parts[2])), !signature.isEmpty else {
            throw .invalid("token signature is missing or not base64url")
        }

        // 3. Key: by kid, from the issuer's JWKS only.
        guard let kid = header["kid"]?.stringValue, !kid.isEmpty else { throw .invalid("token header has no kid") }
        let generation = jwks.generation
        let key: SigningKey
        switch jwks.key(for: kid) {
        case .found(let k): key = k
        case .unknownKid: throw .invalid("no key with this kid in the issuer's JWKS")
        case .unavailable(let retryAfter): throw .unavailable(retryAfter: retryAfter)
        }
        if let keyAlg = key.algorithm, keyAlg != alg { throw .invalid("the signing key is not for this algorithm") }

        // 4. Signature, then confirm libjwt checked the algorithm we allowed.
        signatureChecks.increment()
        var jwt: OpaquePointer?
        let rc = key.pemBytes.withUnsafeBufferPointer { pem in
            jwt_decode(&jwt, token, pem.baseAddress, Int32(pem.count))
        }
        defer { if let jwt { jwt_free(jwt) } }
        guard rc == 0, let jwt else { throw .invalid("signature verification failed") }
        guard jwt_get_alg(jwt) == jwt_str_alg(alg) else { throw .invalid("signature verification failed") }

        // 5. Claims, from the bytes whose signature was just checked.
        guard case .object(let claims)? = try? JSON.parse(payloadBytes, maxDepth: 32) else {
            throw .invalid("token claims are not a JSON object")
        }
        let now = clock()
        guard let exp = claims["exp"] else { throw .invalid("token has no exp") }
        guard let expiresAt = Self.numericDate(exp) else { throw .invalid("token exp is not a number") }
        guard now < expiresAt + leewaySeconds else { throw .invalid("token expired") }
        if let nbf = claims["nbf"] {
            guard let notBefore = Self.numericDate(nbf) else { throw .invalid("token nbf is not a number") }
            guard notBefore <= now + leewaySeconds else { throw .invalid("token not yet valid") }
        }
        if let iat = claims["iat"] {
            guard let issuedAt = Self.numericDate(iat) else { throw .invalid("token iat is not a number") }
            guard issuedAt <= now + leewaySeconds else { throw .invalid("token issued in the future") }
        }
        guard claims["iss"]?.stringValue == issuer else { throw .invalid("wrong issuer") }
        switch claims["aud"] {
        case .string(let a)? where a == audience: break
        case .array(let list)? where list.contains(.string(audience)): break
        default: throw .invalid("wrong audience")
        }
        guard let subject = claims["sub"]?.stringValue, !subject.isEmpty else { throw .invalid("token has no subject") }
        return VerifiedToken(subject: subject, expiresAt: expiresAt, keyGeneration: generation)
    }

    static func numericDate(_ value: JSON) -> Double? {
        guard case .number(let text) = value, let v = Double(text), v.isFinite else { return nil }
        return v
    }
}
