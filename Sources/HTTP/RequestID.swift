#if canImport(Glibc)
import Glibc
#endif
import Hex

public enum RequestID {
    /// 32 lowercase hex digits, like nginx's `$request_id`.
    public static func make() -> String {
        var g = SystemRandomNumberGenerator()
        let a = g.next() as UInt64, b = g.next() as UInt64
        return Hex.encode(padded: a) + Hex.encode(padded: b)
    }

    /// Accepts a client- or nginx-supplied id only if it is short and plain, so it
    /// can go into headers and logs as is.
    public static func isAcceptable(_ id: String) -> Bool {
        guard !id.isEmpty, id.utf8.count <= 128 else { return false }
        return id.utf8.allSatisfy { b in
            (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == 0x2D || b == 0x5F || b == 0x2E
        }
    }
}
