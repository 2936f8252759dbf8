import Synchronization
import Digests

/// Tokens already verified, so a client repeating its token costs a hash and a
/// lookup instead of an RSA check. Keyed by the token's SHA-256 (the token itself
/// is never kept); bounded, oldest entries go first. Expiry and the key
/// generation are still checked on every hit.
final class VerifiedTokenCache: Sendable {
    struct Digest: Hashable, Sendable {
        let a: UInt64, b: UInt64, c: UInt64, d: UInt64

        init(_ token: String) {
            let h = Digests.Digest.sha256(Array(token.utf8))
            func word(_ i: Int) -> UInt64 { h[i..<i + 8].reduce(0) { $0 << 8 | UInt64($1) } }
            (a, b, c, d) = (word(0), word(8), word(16), word(24))
        }
    }

    private struct Storage {
        var entries: [Digest: VerifiedToken] = [:]
        /// Insertion order, as a ring: the slot to reuse next holds the oldest key.
        var ring: [Digest?]
        var next = 0
    }

    private let storage: Mutex<Storage>

    init(capacity: Int = 4096) {
        storage = Mutex(Storage(ring: Array(repeating: nil, count: max(1, capacity))))
    }

    /// The token, if it was verified against the current keys and is still
    /// unexpired (with `leeway`) at `now`.
    func lookup(_ digest: Digest, now: Double, leeway: Double, generation: Int) -> VerifiedToken? {
        storage.withLock { s in
            guard let token = s.entries[digest] else { return nil }
            guard now < token.expiresAt + leeway, token.keyGeneration == generation else {
                s.entries[digest] = nil
                return nil
            }
            return token
        }
    }

    func insert(_ digest: Digest, _ token: VerifiedToken) {
        storage.withLock { s in
            guard s.entries.updateValue(token, forKey: digest) == nil else { return }
            if let oldest = s.ring[s.next], oldest != digest { s.entries[oldest] = nil }
            s.ring[s.next] = digest
            s.next = (s.next + 1) % s.ring.count
        }
    }

    var count: Int { storage.withLock { $0.entries.count } }
}
