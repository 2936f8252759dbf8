#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Synchronization

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

    private static let lastSecond = Mutex<(second: Int, text: [UInt8])>((Int.min, []))

    /// `2026-11-21T23:33:39.123Z`, for logs.
    public static func iso8601Millis(_ date: Date) -> String {
        let seconds = date.timeIntervalSince1970
        let whole = seconds.rounded(.down)
        let millis = min(999, max(0, Int((seconds - whole) * 1000)))
        // Every log line needs one: the seconds part is formatted once per second
        // (gmtime_r and the formatting were 9,000 instructions a line, bench/results.md).
        let second = Int(whole)
        var b: [UInt8]
        if let cached = lastSecond.withLock({ $0.second == second ? $0.text : nil }) {
            b = cached
        } else {
            b = Array(iso8601(date).utf8)
            b.removeLast()
            let text = b
            lastSecond.withLock { $0 = (second, text) }
        }
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
        let start = b.count
        b.append(contentsOf: repeatElement(0x30, count: width))
        var i = start + width - 1
        while i >= start {
            b[i] = UInt8(0x30 + v % 10)
            v /= 10
            i -= 1
        }
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
