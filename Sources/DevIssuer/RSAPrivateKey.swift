import COpenSSL
import Digests
import JSON
import Auth

public struct KeyError: Error, CustomStringConvertible, Sendable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// An RSA key pair held by OpenSSL: made or loaded by the dev issuer, and used to
/// sign tokens (the dev issuer's and the tests').
public final class RSAPrivateKey: @unchecked Sendable {
    // An EVP_PKEY is immutable once made; OpenSSL allows concurrent signing with it.
    private let pkey: OpaquePointer

    private init(pkey: OpaquePointer) { self.pkey = pkey }
    deinit { EVP_PKEY_free(pkey) }

    public static func generate(bits: Int = 2048) throws(KeyError) -> RSAPrivateKey {
        guard let ctx = EVP_PKEY_CTX_new_from_name(nil, "RSA", nil) else { throw KeyError("EVP_PKEY_CTX_new_from_name failed") }
        defer { EVP_PKEY_CTX_free(ctx) }
        var pkey: OpaquePointer?
        guard EVP_PKEY_keygen_init(ctx) == 1,
              EVP_PKEY_CTX_set_rsa_keygen_bits(ctx, Int32(bits)) == 1,
              EVP_PKEY_generate(ctx, &pkey) == 1, let pkey else {
            ERR_clear_error()
            throw KeyError("RSA key generation failed")
        }
        return RSAPrivateKey(pkey: pkey)
    }

    /// From a PEM private key (PKCS#8 or PKCS#1), unencrypted.
    public convenience init(pem: String) throws(KeyError) {
        // BIO_new_mem_buf would keep a pointer to a temporary Swift buffer:
        // a memory BIO that copies the bytes in stays valid.
        let bytes = Array(pem.utf8)
        guard let bio = BIO_new(BIO_s_mem()) else { throw KeyError("BIO_new failed") }
        defer { BIO_free(bio) }
        guard BIO_write(bio, bytes, Int32(bytes.count)) == Int32(bytes.count) else { throw KeyError("BIO_write failed") }
        guard let pkey = PEM_read_bio_PrivateKey(bio, nil, nil, nil) else {
            ERR_clear_error()
            throw KeyError("not a PEM private key")
        }
        guard EVP_PKEY_is_a(pkey, "RSA") == 1 else {
            EVP_PKEY_free(pkey)
            throw KeyError("not an RSA key")
        }
        self.init(pkey: pkey)
    }

    public var bits: Int { Int(EVP_PKEY_get_bits(pkey)) }

    /// PKCS#8 PEM, unencrypted (the file holding it must be private).
    public var privatePEM: String {
        OpenSSLBIO.write { PEM_write_bio_PrivateKey($0, pkey, nil, nil, 0, nil, nil) } ?? ""
    }

    public var publicPEM: String {
        OpenSSLBIO.write { PEM_write_bio_PUBKEY($0, pkey) } ?? ""
    }

    /// Big-endian modulus and public exponent.
    public var publicNumbers: (modulus: [UInt8], exponent: [UInt8]) {
        (bigNumber("n"), bigNumber("e"))
    }

    private func bigNumber(_ name: String) -> [UInt8] {
        var bn: OpaquePointer?
        guard EVP_PKEY_get_bn_param(pkey, name, &bn) == 1, let bn else { return [] }
        defer { BN_free(bn) }
        var out = [UInt8](repeating: 0, count: (Int(BN_num_bits(bn)) + 7) / 8)
        _ = BN_bn2bin(bn, &out)
        return out
    }

    /// RFC 7638 thumbprint: a key id that follows from the key itself.
    public var thumbprint: String {
        let (n, e) = publicNumbers
        let canonical = "{\"e\":\"\(Base64URL.encode(e))\",\"kty\":\"RSA\",\"n\":\"\(Base64URL.encode(n))\"}"
        return Base64URL.encode(Digest.sha256(Array(canonical.utf8)))
    }

    /// The public half as a JWK for signatures.
    public func jwk(kid: String, alg: String = "RS256") -> JSON {
        let (n, e) = publicNumbers
        return .object(JSONObject([
            ("kty", .string("RSA")), ("use", .string("sig")), ("alg", .string(alg)), ("kid", .string(kid)),
            ("n", .string(Base64URL.encode(n))), ("e", .string(Base64URL.encode(e))),
        ]))
    }

    /// PKCS#1 v1.5 signature (RS256/RS384/RS512).
    public func sign(_ message: [UInt8], algorithm: String = "RS256") throws(KeyError) -> [UInt8] {
        let md: OpaquePointer?
        switch algorithm {
        case "RS256": md = EVP_sha256()
        case "RS384": md = EVP_sha384()
        case "RS512": md = EVP_sha512()
        default: throw KeyError("unsupported algorithm \(algorithm)")
        }
        guard let ctx = EVP_MD_CTX_new() else { throw KeyError("EVP_MD_CTX_new failed") }
        defer { EVP_MD_CTX_free(ctx) }
        guard EVP_DigestSignInit(ctx, nil, md, nil, pkey) == 1 else { ERR_clear_error(); throw KeyError("EVP_DigestSignInit failed") }
        var length = 0
        guard EVP_DigestSign(ctx, nil, &length, message, message.count) == 1 else { ERR_clear_error(); throw KeyError("EVP_DigestSign failed") }
        var signature = [UInt8](repeating: 0, count: length)
        guard EVP_DigestSign(ctx, &signature, &length, message, message.count) == 1 else { ERR_clear_error(); throw KeyError("EVP_DigestSign failed") }
        return Array(signature.prefix(length))
    }
}
