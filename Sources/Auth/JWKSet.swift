import JSON

/// One key the issuer signs with, ready for libjwt.
public struct SigningKey: Sendable, Equatable {
    public let kid: String
    /// The JWK's `alg`, when it names one: a token must then use exactly that.
    public let algorithm: String?
    public let publicKey: RSAPublicKey
    /// The PEM as libjwt reads it.
    let pemBytes: [UInt8]

    public init(kid: String, algorithm: String?, publicKey: RSAPublicKey) {
        self.kid = kid
        self.algorithm = algorithm
        self.publicKey = publicKey
        self.pemBytes = Array(publicKey.pem.utf8)
    }
}

public struct JWKSetError: Error, CustomStringConvertible, Sendable {
    public let message: String
    public var description: String { message }
}

/// Reads a JWKS document (RFC 7517): RSA keys meant for signatures become
/// `SigningKey`s; every other key is skipped.
public enum JWKSet {
    public static let rsaAlgorithms: Set<String> = ["RS256", "RS384", "RS512"]
    /// Smaller RSA keys are forgeable in practice; Auth0 uses 2048.
    public static let minimumRSABits = 2048

    public static func parse(_ bytes: [UInt8]) throws(JWKSetError) -> (keys: [String: SigningKey], skipped: [String]) {
        let document: JSON
        do { document = try JSON.parse(bytes, maxDepth: 16) } catch { throw JWKSetError(message: "JWKS is not JSON: \(error)") }
        guard let entries = document["keys"]?.arrayValue else { throw JWKSetError(message: "JWKS has no \"keys\" array") }
        var keys: [String: SigningKey] = [:]
        var skipped: [String] = []
        for (index, entry) in entries.enumerated() {
            switch signingKey(entry) {
            case .success(let key):
                if keys[key.kid] != nil {
                    skipped.append("key \(index): duplicate kid, the first one is used")
                } else {
                    keys[key.kid] = key
                }
            case .failure(let why):
                skipped.append("key \(index): \(why.message)")
            }
        }
        return (keys, skipped)
    }

    static func signingKey(_ jwk: JSON) -> Result<SigningKey, JWKSetError> {
        func skip(_ m: String) -> Result<SigningKey, JWKSetError> { .failure(JWKSetError(message: m)) }
        guard jwk.objectValue != nil else { return skip("not an object") }
        guard jwk["kty"]?.stringValue == "RSA" else { return skip("kty is not RSA") }
        if let use = jwk["use"], use.stringValue != "sig" { return skip("use is not sig") }
        if let ops = jwk["key_ops"] {
            guard let list = ops.arrayValue, list.contains(.string("verify")) else { return skip("key_ops lacks verify") }
        }
        var algorithm: String?
        if let alg = jwk["alg"] {
            guard let a = alg.stringValue, rsaAlgorithms.contains(a) else { return skip("alg is not an RSA signature algorithm") }
            algorithm = a
        }
        guard let kid = jwk["kid"]?.stringValue, !kid.isEmpty else { return skip("no kid") }
        guard let n = jwk["n"]?.stringValue.flatMap({ Base64URL.decode($0) }),
              let e = jwk["e"]?.stringValue.flatMap({ Base64URL.decode($0) }) else { return skip("n or e is not base64url") }
        guard let key = RSAPublicKey(modulus: n, exponent: e) else { return skip("OpenSSL refused n and e") }
        guard key.bits >= minimumRSABits else { return skip("RSA key of \(key.bits) bits is too small") }
        return .success(SigningKey(kid: kid, algorithm: algorithm, publicKey: key))
    }
}
