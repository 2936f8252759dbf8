import COpenSSL

/// An RSA public key built from a JWK's `n` and `e`, as the PEM libjwt wants.
public struct RSAPublicKey: Sendable, Equatable {
    /// `-----BEGIN PUBLIC KEY-----` (SubjectPublicKeyInfo).
    public let pem: String
    public let bits: Int

    /// Nil when OpenSSL will not make a key of these numbers.
    public init?(modulus n: [UInt8], exponent e: [UInt8]) {
        guard !n.isEmpty, !e.isEmpty else { return nil }
        guard let bnN = BN_bin2bn(n, Int32(n.count), nil) else { return nil }
        defer { BN_free(bnN) }
        guard let bnE = BN_bin2bn(e, Int32(e.count), nil) else { return nil }
        defer { BN_free(bnE) }
        guard let builder = OSSL_PARAM_BLD_new() else { return nil }
        defer { OSSL_PARAM_BLD_free(builder) }
        // Static names: the builder keeps the pointers until to_param.
        guard OSSL_PARAM_BLD_push_BN(builder, rs_OSSL_PKEY_PARAM_RSA_N(), bnN) == 1,
              OSSL_PARAM_BLD_push_BN(builder, rs_OSSL_PKEY_PARAM_RSA_E(), bnE) == 1,
              let params = OSSL_PARAM_BLD_to_param(builder) else { return nil }
        defer { OSSL_PARAM_free(params) }
        guard let ctx = EVP_PKEY_CTX_new_from_name(nil, "RSA", nil) else { return nil }
        defer { EVP_PKEY_CTX_free(ctx) }
        var pkey: OpaquePointer?
        guard EVP_PKEY_fromdata_init(ctx) == 1,
              EVP_PKEY_fromdata(ctx, &pkey, rs_EVP_PKEY_PUBLIC_KEY(), params) == 1,
              let pkey else {
            ERR_clear_error()
            return nil
        }
        defer { EVP_PKEY_free(pkey) }
        guard let pem = OpenSSLBIO.write({ PEM_write_bio_PUBKEY($0, pkey) }) else { return nil }
        self.pem = pem
        self.bits = Int(EVP_PKEY_get_bits(pkey))
    }
}

/// Writing PEM through a memory BIO (the public key here, the dev issuer's private key too).
public enum OpenSSLBIO {
    public static func write(_ body: (OpaquePointer) -> Int32) -> String? {
        guard let bio = BIO_new(BIO_s_mem()) else { return nil }
        defer { BIO_free(bio) }
        guard body(bio) == 1 else { ERR_clear_error(); return nil }
        var data: UnsafeMutablePointer<CChar>?
        let length = rs_BIO_get_mem_data(bio, &data)
        guard length > 0, let data else { return nil }
        return String(decoding: UnsafeRawBufferPointer(start: data, count: length), as: UTF8.self)
    }
}
