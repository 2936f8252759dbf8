import Hex

/// AWS's URI encoding (SigV4 "UriEncode"): every byte of the UTF-8 form except
/// `A–Z a–z 0–9 - . _ ~` becomes `%XX` (uppercase hex). The same text goes into the
/// URL and into the canonical request, so what is sent is exactly what is signed.
public enum URIEncoding {
    /// Encodes one query name or value, or one path segment.
    public static func encode(_ s: String) -> String { encode(s, keepSlash: false) }

    /// Encodes an S3 key or other path: each `/`-separated segment once, slashes kept.
    public static func encodePath(_ s: String) -> String { encode(s, keepSlash: true) }

    static func encode(_ s: String, keepSlash: Bool) -> String {
        var out = [UInt8]()
        out.reserveCapacity(s.utf8.count)
        for b in s.utf8 {
            switch b {
            case 0x41...0x5A, 0x61...0x7A, 0x30...0x39, 0x2D, 0x2E, 0x5F, 0x7E:
                out.append(b)
            case 0x2F where keepSlash:
                out.append(b)
            default:
                out.append(0x25); Hex.append(b, to: &out, uppercase: true)
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Reverses S3's `encoding-type=url` in listings (form encoding: `+` is a space).
    /// Nil when the escapes are malformed or do not decode to UTF-8.
    static func decodeFormComponent(_ s: String) -> String? {
        var out = [UInt8]()
        var bytes = s.utf8.makeIterator()
        while let b = bytes.next() {
            switch b {
            case 0x2B: out.append(0x20)
            case 0x25:
                guard let h = bytes.next().flatMap(Hex.value), let l = bytes.next().flatMap(Hex.value) else { return nil }
                out.append(h << 4 | l)
            default: out.append(b)
            }
        }
        return String(validating: out, as: UTF8.self)
    }
}
