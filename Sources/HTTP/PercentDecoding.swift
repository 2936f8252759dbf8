import Hex

public enum PercentDecoding {
    /// Decodes `%XX` once. Nil for a malformed escape or a result that is not UTF-8.
    public static func decode(_ s: String, plusIsSpace: Bool = false) -> String? {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(s.utf8.count)
        var it = s.utf8.makeIterator()
        while let b = it.next() {
            if b == UInt8(ascii: "%") {
                guard let h = it.next(), let l = it.next(), let hv = Hex.value(h), let lv = Hex.value(l) else { return nil }
                bytes.append(hv << 4 | lv)
            } else if plusIsSpace && b == UInt8(ascii: "+") {
                bytes.append(0x20)
            } else {
                bytes.append(b)
            }
        }
        return String(validating: bytes, as: UTF8.self)
    }

    /// Encodes one path segment: everything but RFC 3986 unreserved characters.
    public static func encodeSegment(_ s: String) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(s.utf8.count)
        for b in s.utf8 {
            if (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A)
                || b == 0x2D || b == 0x2E || b == 0x5F || b == 0x7E {
                out.append(b)
            } else {
                out.append(UInt8(ascii: "%"))
                Hex.append(b, to: &out, uppercase: true)
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
