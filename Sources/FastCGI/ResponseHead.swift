import Diagnostics
import HTTP

/// The head of a FastCGI responder's answer, CGI style: a `Status:` line, the
/// headers, a blank line. A header that could split the head (CR, LF or NUL in a
/// value, a name that is not an HTTP token) is dropped and logged, never sent.
enum ResponseHead {
    /// `setting`: fields that replace any of the same name in `headers`, written last.
    static func serialize(status: Status, headers: Headers, setting: [(name: String, value: String)] = [],
                          requestID: String) -> [UInt8] {
        // Built as bytes into storage of the exact size: String interpolation and
        // concatenation cost ~26,000 instructions per response, appending each piece
        // to a growing array ~13,000 (bench/results.md).
        var kept: [(name: String, value: String)] = []
        kept.reserveCapacity(headers.fields.count + setting.count)
        for (name, value) in headers where !setting.contains(where: { $0.name.caseInsensitiveEquals(name) }) {
            guard isToken(name), !name.caseInsensitiveEquals("Status"), isSafeValue(value) else {
                Log.warning("response header dropped: not a valid header", ["request_id": requestID, "header": name])
                continue
            }
            kept.append((name, value))
        }
        kept += setting
        let code = String(status.rawValue)
        let reason = status.reason
        var total = 8 + code.utf8.count + 1 + reason.utf8.count + 2 + 2
        for (name, value) in kept { total += name.utf8.count + 2 + value.utf8.count + 2 }
        return [UInt8](unsafeUninitializedCapacity: total) { buffer, count in
            var at = 0
            func put(_ text: String) {
                var text = text
                text.withUTF8 { bytes in
                    guard let base = bytes.baseAddress else { return }
                    (buffer.baseAddress! + at).update(from: base, count: bytes.count)
                    at += bytes.count
                }
            }
            func put(_ literal: StaticString) {
                (buffer.baseAddress! + at).update(from: literal.utf8Start, count: literal.utf8CodeUnitCount)
                at += literal.utf8CodeUnitCount
            }
            put("Status: " as StaticString)
            put(code)
            put(" " as StaticString)
            put(reason)
            put("\r\n" as StaticString)
            for (name, value) in kept {
                put(name)
                put(": " as StaticString)
                put(value)
                put("\r\n" as StaticString)
            }
            put("\r\n" as StaticString)
            count = at
        }
    }

    static func isToken(_ name: String) -> Bool {
        // RFC 9110 tchar as a bit set over the 128 ASCII values: digits, letters and
        // !#$%&'*+-.^_`|~ (constants: a table behind a static costs a swift_once per byte).
        let low: UInt64 = 0x03FF_6CFA_0000_0000, high: UInt64 = 0x57FF_FFFF_C7FF_FFFE
        return !name.isEmpty && name.utf8.allSatisfy { b in
            b < 64 ? (low >> UInt64(b)) & 1 == 1 : b < 128 && (high >> UInt64(b - 64)) & 1 == 1
        }
    }

    static func isSafeValue(_ value: String) -> Bool {
        !value.utf8.contains { $0 == 0x0D || $0 == 0x0A || $0 == 0x00 }
    }
}
