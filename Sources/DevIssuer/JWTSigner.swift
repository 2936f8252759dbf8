import JSON
import Auth

/// Makes RS256/RS384/RS512 compact JWS tokens with a local key: the dev issuer's
/// tokens, and tests'.
public struct JWTSigner: Sendable {
    public let key: RSAPrivateKey
    public let kid: String
    public let algorithm: String

    public init(key: RSAPrivateKey, kid: String, algorithm: String = "RS256") {
        self.key = key
        self.kid = kid
        self.algorithm = algorithm
    }

    public func sign(_ claims: JSONObject) throws(KeyError) -> String {
        let header = JSON.object(JSONObject([("alg", .string(algorithm)), ("typ", .string("JWT")), ("kid", .string(kid))]))
        let signingInput = Base64URL.encode(header.bytes) + "." + Base64URL.encode(JSON.object(claims).bytes)
        let signature = try key.sign(Array(signingInput.utf8), algorithm: algorithm)
        return signingInput + "." + Base64URL.encode(signature)
    }

    /// The claims Auth0 puts in an access token for an API.
    public static func claims(subject: String, issuer: String, audience: String, issuedAt: Int, lifetime: Int) -> JSONObject {
        JSONObject([
            ("iss", .string(issuer)), ("sub", .string(subject)), ("aud", .string(audience)),
            ("iat", .int(issuedAt)), ("exp", .int(issuedAt + lifetime)),
        ])
    }
}
