import Foundation
import COpenSSL
import Storage

/// Size and SHA-256 of an object as a store serves it, read in chunks (audio can be
/// hundreds of megabytes): how `recstore sync` proves a copy before it deletes
/// the original.
struct ObjectDigest: Equatable, CustomStringConvertible {
    let size: Int64
    /// Lowercase hex.
    let sha256: String

    static func of(_ key: String, in store: any ObjectStore) throws -> ObjectDigest {
        guard let context = EVP_MD_CTX_new(), EVP_DigestInit_ex(context, EVP_sha256(), nil) == 1 else {
            fatalError("OpenSSL cannot initialise SHA-256")
        }
        defer { EVP_MD_CTX_free(context) }
        var size: Int64 = 0
        try store.read(key: key, range: nil) { chunk in
            if let base = chunk.baseAddress, chunk.count > 0 { EVP_DigestUpdate(context, base, chunk.count) }
            size += Int64(chunk.count)
        }
        var digest = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        EVP_DigestFinal_ex(context, &digest, &length)
        return ObjectDigest(size: size, sha256: digest[0..<Int(length)].map { String(format: "%02x", $0) }.joined())
    }

    var description: String { "\(size) bytes, SHA-256 \(sha256)" }
}
