import Auth
import COpenSSL
import JSON
import DevIssuer

/// Builds tokens by hand, so every malformed or forged variant can be made.
enum TokenFactory {
    /// `base64url(header).base64url(payload).base64url(signature over the first two)`,
    /// signed with `key` (RSA) unless `signature` is given.
    static func token(header: String, payload: String, key: RSAPrivateKey?, algorithm: String = "RS256",
                      signature: [UInt8]? = nil) -> String {
        let input = Base64URL.encode(header) + "." + Base64URL.encode(payload)
        let sig = signature ?? (key.map { try! $0.sign(Array(input.utf8), algorithm: algorithm) } ?? [])
        return input + "." + Base64URL.encode(sig)
    }

    static func header(alg: String = "RS256", kid: String?) -> String {
        var h = JSONObject([("alg", .string(alg)), ("typ", .string("JWT"))])
        if let kid { h["kid"] = .string(kid) }
        return JSON.object(h).serialized()
    }

    static func hmacSHA256(key: [UInt8], message: [UInt8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 32)
        var length: UInt32 = 0
        _ = HMAC(EVP_sha256(), key, Int32(key.count), message, message.count, &out, &length)
        return Array(out.prefix(Int(length)))
    }
}
