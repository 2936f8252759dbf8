/// The shape every object key must have before a store touches it. Keys are
/// built from ids the API already validated; this is the second wall, so that a
/// bug upstream can never turn into a path outside a store's root.
///
/// A key is `/`-separated segments, each 1–255 bytes of `A–Z a–z 0–9 | . _ @ + -`,
/// never `.` or `..`; the first segment does not start with `.` (the local
/// store keeps its own files there). Anything else is refused, never cleaned.
public enum StorageKey {
    public static let maxLength = 1024

    public static func isValid(_ key: String) -> Bool {
        guard !key.isEmpty, key.utf8.count <= maxLength else { return false }
        return withBytes(of: key, areValidSegments)
    }

    /// A listing or deletion prefix: valid key segments, optionally ending with `/`
    /// (the last segment may be a partial name, as in S3). The empty prefix is everything.
    public static func isValidPrefix(_ prefix: String) -> Bool {
        if prefix.isEmpty { return true }
        guard prefix.utf8.count <= maxLength else { return false }
        return withBytes(of: prefix) { bytes in
            areValidSegments(bytes.last == UInt8(ascii: "/") ? UnsafeBufferPointer(rebasing: bytes.dropLast()) : bytes)
        }
    }

    /// `/`-separated valid segments, the first not starting with `.`. One pass over
    /// the bytes, no array of segments: this runs for every object a request touches
    /// (splitting was ~6,400 instructions of a settings GET, bench/results.md).
    private static func areValidSegments(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        guard bytes.first != UInt8(ascii: ".") else { return false }
        var start = 0
        for i in 0...bytes.count where i == bytes.count || bytes[i] == UInt8(ascii: "/") {
            guard isValidSegment(bytes[start..<i]) else { return false }
            start = i + 1
        }
        return true
    }

    /// The string's UTF-8 bytes, without a copy when it is stored contiguously.
    private static func withBytes(of text: String, _ body: (UnsafeBufferPointer<UInt8>) -> Bool) -> Bool {
        if let result = text.utf8.withContiguousStorageIfAvailable(body) { return result }
        return Array(text.utf8).withUnsafeBufferPointer(body)
    }

    public static func isValidSegment<S: Collection>(_ segment: S) -> Bool where S.Element == UInt8 {
        guard (1...255).contains(segment.count) else { return false }
        if segment.count <= 2 && segment.allSatisfy({ $0 == UInt8(ascii: ".") }) { return false }
        return segment.allSatisfy(isAllowed)
    }

    @inline(__always)
    static func isAllowed(_ b: UInt8) -> Bool {
        switch b {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        case UInt8(ascii: "|"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "@"), UInt8(ascii: "+"), UInt8(ascii: "-"):
            return true
        default:
            return false
        }
    }
}
