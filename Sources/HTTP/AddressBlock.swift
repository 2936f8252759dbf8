#if canImport(Glibc)
import Glibc
#endif

/// An IPv4 or IPv6 address or CIDR block (`127.0.0.0/8`, `::1`, `10.1.0.0/16`),
/// matched against a peer address as text (FastCGI's REMOTE_ADDR).
public struct AddressBlock: Sendable, Equatable {
    let bytes: [UInt8]
    let prefixLength: Int

    public init?(_ text: String) {
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard let address = Self.parse(String(parts[0])) else { return nil }
        let maxLength = address.count * 8
        if parts.count == 2 {
            guard let n = Int(parts[1]), (0...maxLength).contains(n) else { return nil }
            prefixLength = n
        } else {
            prefixLength = maxLength
        }
        bytes = address
    }

    public func contains(_ text: String) -> Bool {
        guard var peer = Self.parse(text) else { return false }
        // An IPv4 peer seen through an IPv6 socket (::ffff:a.b.c.d).
        if peer.count == 16 && bytes.count == 4 && peer[0..<12] == [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff] {
            peer = Array(peer[12...])
        }
        guard peer.count == bytes.count else { return false }
        var remaining = prefixLength
        for i in bytes.indices where remaining > 0 {
            let bits = min(8, remaining)
            let mask = UInt8(truncatingIfNeeded: 0xff << (8 - bits))
            if peer[i] & mask != bytes[i] & mask { return false }
            remaining -= bits
        }
        return true
    }

    static func parse(_ text: String) -> [UInt8]? {
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 { return withUnsafeBytes(of: v4) { Array($0) } }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, text, &v6) == 1 { return withUnsafeBytes(of: v6) { Array($0) } }
        return nil
    }
}
