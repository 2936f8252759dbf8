import Diagnostics
import HTTP

/// The head of a FastCGI responder's answer, CGI style: a `Status:` line, the
/// headers, a blank line. A header that could split the head (CR, LF or NUL in a
/// value, a name that is not an HTTP token) is dropped and logged, never sent.
enum ResponseHead {
    static func serialize(status: Status, headers: Headers, requestID: String) -> [UInt8] {
        // Built as bytes: String interpolation and concatenation cost ~26,000
        // instructions per response (bench/results.md).
        var head: [UInt8] = []
        head.reserveCapacity(256)
        head.append(contentsOf: "Status: ".utf8)
        head.append(contentsOf: String(status.rawValue).utf8)
        head.append(UInt8(ascii: " "))
        head.append(contentsOf: status.reason.utf8)
        head.append(contentsOf: "\r\n".utf8)
        for (name, value) in headers {
            guard isToken(name), !name.caseInsensitiveEquals("Status"), isSafeValue(value) else {
                Log.warning("response header dropped: not a valid header", ["request_id": requestID, "header": name])
                continue
            }
            head.append(contentsOf: name.utf8)
            head.append(contentsOf: ": ".utf8)
            head.append(contentsOf: value.utf8)
            head.append(contentsOf: "\r\n".utf8)
        }
        head.append(contentsOf: "\r\n".utf8)
        return head
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
