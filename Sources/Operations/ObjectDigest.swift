import Foundation
import Storage
import Digests

/// Size and SHA-256 of an object as a store serves it, read in chunks (audio can be
/// hundreds of megabytes): how `recstore sync` proves a copy before it deletes
/// the original.
public struct ObjectDigest: Equatable, CustomStringConvertible {
    public let size: Int64
    /// Lowercase hex.
    public let sha256: String

    public init(size: Int64, sha256: String) {
        self.size = size
        self.sha256 = sha256
    }

    public static func of(_ key: String, in store: any ObjectStore) throws -> ObjectDigest {
        let hasher = SHA256Hasher()
        var size: Int64 = 0
        try store.read(key: key, range: nil) { chunk in
            hasher.update(chunk)
            size += Int64(chunk.count)
        }
        return ObjectDigest(size: size, sha256: hasher.finalize())
    }

    public var description: String { "\(size) bytes, SHA-256 \(sha256)" }
}
