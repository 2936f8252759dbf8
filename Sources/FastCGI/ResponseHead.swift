import Diagnostics
import HTTP

/// The head of a FastCGI responder's answer, CGI style: a `Status:` line, the
/// headers, a blank line. A header that could split the head (CR, LF or NUL in a
/// value, a name that is not an HTTP token) is dropped and logged, never sent.
enum ResponseHead {
    static func serialize(status: Status, headers: Headers, requestID: String) -> [UInt8] {
        var head = "Status: \(status.rawValue) \(status.reason)\r\n"
        for (name, value) in headers {
            guard isToken(name), !name.caseInsensitiveEquals("Status"), isSafeValue(value) else {
                Log.warning("response header dropped: not a valid header", ["request_id": requestID, "header": name])
                continue
            }
            head += name + ": " + value + "\r\n"
        }
        head += "\r\n"
        return Array(head.utf8)
    }

    static func isToken(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.allSatisfy { b in
            switch b {
            case 0x30...0x39, 0x41...0x5A, 0x61...0x7A: true
            case UInt8(ascii: "!"), UInt8(ascii: "#"), UInt8(ascii: "$"), UInt8(ascii: "%"), UInt8(ascii: "&"),
                 UInt8(ascii: "'"), UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "."),
                 UInt8(ascii: "^"), UInt8(ascii: "_"), UInt8(ascii: "`"), UInt8(ascii: "|"), UInt8(ascii: "~"): true
            default: false
            }
        }
    }

    static func isSafeValue(_ value: String) -> Bool {
        !value.utf8.contains { $0 == 0x0D || $0 == 0x0A || $0 == 0x00 }
    }
}
