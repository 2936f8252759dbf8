import COpenSSL
import Foundation
import Hex

/// One-shot digests through OpenSSL's EVP interface: SigV4 and S3 (SHA-256, HMAC,
/// Content-MD5), the verified-token cache (SHA-256 of a token).
public enum Digest {
    public static func sha256(_ data: some ContiguousBytes) -> [UInt8] { digest(data, sha256Type, 32) }

    /// Content-MD5 for DeleteObjects, which S3 requires on that call.
    public static func md5(_ data: some ContiguousBytes) -> [UInt8] { digest(data, md5Type, 16) }

    // Fetched once: given OpenSSL 3's legacy `EVP_sha256()`, every EVP_Digest call
    // fetches the implementation again (a locked provider lookup), which was most of
    // the 23,000 instructions a token-cache lookup cost (bench/results.md). A fetched
    // EVP_MD is immutable and may be shared by threads; it lives as long as the process.
    nonisolated(unsafe) static let sha256Type: OpaquePointer? = EVP_MD_fetch(nil, "SHA256", nil) ?? EVP_sha256()
    nonisolated(unsafe) static let md5Type: OpaquePointer? = EVP_MD_fetch(nil, "MD5", nil) ?? EVP_md5()

    public static func hmacSHA256(key: some ContiguousBytes, _ data: some ContiguousBytes) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 32)
        var length: UInt32 = 32
        key.withUnsafeBytes { k in
            data.withUnsafeBytes { d in
                _ = HMAC(sha256Type, k.baseAddress, Int32(k.count), d.bindMemory(to: UInt8.self).baseAddress, d.count, &out, &length)
            }
        }
        return out
    }

    private static func digest(_ data: some ContiguousBytes, _ type: OpaquePointer?, _ size: Int) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: size)
        var length: UInt32 = 0
        data.withUnsafeBytes { d in
            _ = EVP_Digest(d.baseAddress, d.count, &out, &length, type, nil)
        }
        return out
    }

    /// Lowercase hex (`Hex.encode`), kept here for the digests' callers.
    public static func hex(_ bytes: [UInt8]) -> String { Hex.encode(bytes) }

    public static func sha256Hex(_ s: String) -> String { hex(sha256(Array(s.utf8))) }

    /// SHA-256 of the empty string: the payload hash of bodiless requests.
    public static let emptySHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
}
