#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// ISO 8601 UTC with a `Z`, formatted by hand: `ISO8601DateFormatter` is slow and
/// not safe to share between threads on every platform.
public enum Timestamp {
    /// `2026-11-21T23:33:39Z`
    public static func iso8601(_ date: Date) -> String {
        let tm = fields(date)
        var b: [UInt8] = []
        b.reserveCapacity(20)
        digits(&b, Int(tm.tm_year) + 1900, 4); b.append(0x2D); digits(&b, Int(tm.tm_mon) + 1, 2); b.append(0x2D)
        digits(&b, Int(tm.tm_mday), 2); b.append(0x54); digits(&b, Int(tm.tm_hour), 2); b.append(0x3A)
        digits(&b, Int(tm.tm_min), 2); b.append(0x3A); digits(&b, Int(tm.tm_sec), 2); b.append(0x5A)
        return String(decoding: b, as: UTF8.self)
    }

    /// `2026-11-21T23:33:39.123Z`, for logs.
    public static func iso8601Millis(_ date: Date) -> String {
        let seconds = date.timeIntervalSince1970
        let millis = min(999, max(0, Int((seconds - seconds.rounded(.down)) * 1000)))
        var b = Array(iso8601(date).utf8)
        b.removeLast()
        b.append(0x2E)
        digits(&b, millis, 3)
        b.append(0x5A)
        return String(decoding: b, as: UTF8.self)
    }

    /// `20261121T233339Z`, the prefix of generated session ids.
    public static func compact(_ date: Date) -> String {
        let tm = fields(date)
        var b: [UInt8] = []
        b.reserveCapacity(16)
        digits(&b, Int(tm.tm_year) + 1900, 4); digits(&b, Int(tm.tm_mon) + 1, 2); digits(&b, Int(tm.tm_mday), 2)
        b.append(0x54)
        digits(&b, Int(tm.tm_hour), 2); digits(&b, Int(tm.tm_min), 2); digits(&b, Int(tm.tm_sec), 2)
        b.append(0x5A)
        return String(decoding: b, as: UTF8.self)
    }

    // String(format:) goes through CoreFoundation's formatter: too slow for a
    // timestamp on every listed recording and every log line.
    private static func fields(_ date: Date) -> tm {
        var t = time_t(date.timeIntervalSince1970.rounded(.down))
        var result = tm()
        gmtime_r(&t, &result)
        return result
    }

    private static func digits(_ b: inout [UInt8], _ value: Int, _ width: Int) {
        var v = value
        var tmp = [UInt8](repeating: 0x30, count: width)
        var i = width - 1
        while i >= 0 {
            tmp[i] = UInt8(0x30 + v % 10)
            v /= 10
            i -= 1
        }
        b.append(contentsOf: tmp)
    }

    /// Parses `YYYY-MM-DDTHH:MM:SS[.fff](Z|+00:00)`. Nil for anything else.
    public static func parse(_ s: String) -> Date? {
        let b = Array(s.utf8)
        guard b.count >= 19, b[4] == 0x2D, b[7] == 0x2D, b[10] == 0x54 || b[10] == 0x20, b[13] == 0x3A, b[16] == 0x3A else { return nil }
        func num(_ r: Range<Int>) -> Int? {
            var v = 0
            for i in r { guard b[i] >= 0x30 && b[i] <= 0x39 else { return nil }; v = v * 10 + Int(b[i] - 0x30) }
            return v
        }
        guard let y = num(0..<4), let mo = num(5..<7), let d = num(8..<10), let h = num(11..<13),
              let mi = num(14..<16), let se = num(17..<19), (1...12).contains(mo), (1...31).contains(d),
              h < 24, mi < 60, se < 61 else { return nil }
        var i = 19
        var fraction = 0.0
        if i < b.count, b[i] == 0x2E {
            i += 1
            var scale = 0.1
            let start = i
            while i < b.count, b[i] >= 0x30 && b[i] <= 0x39 { fraction += Double(b[i] - 0x30) * scale; scale /= 10; i += 1 }
            guard i > start else { return nil }
        }
        let rest = String(decoding: b[i...], as: UTF8.self)
        guard rest == "Z" || rest == "+00:00" || rest.isEmpty else { return nil }
        var tm = tm()
        tm.tm_year = Int32(y - 1900); tm.tm_mon = Int32(mo - 1); tm.tm_mday = Int32(d)
        tm.tm_hour = Int32(h); tm.tm_min = Int32(mi); tm.tm_sec = Int32(se)
        return Date(timeIntervalSince1970: TimeInterval(timegm(&tm)) + fraction)
    }
}
