import Diagnostics
import Foundation
import HTTP
import Hex

/// The ids of API.md. Anything else is a 422: ids are refused, never cleaned,
/// so no id can reach outside its user's prefix.
enum Identifiers {
    /// 1–128 characters from `A–Z a–z 0–9 | . _ @ + -`, not `.` or `..`.
    static func isValidUserID(_ id: String) -> Bool {
        let b = id.utf8
        guard (1...128).contains(b.count), id != ".", id != ".." else { return false }
        return b.allSatisfy { isAlphanumeric($0) || "|._@+-".utf8.contains($0) }
    }

    /// 1–64 characters from `A–Z a–z 0–9 . _ -`, not starting with `.`.
    static func isValidSessionID(_ id: String) -> Bool {
        let b = id.utf8
        guard (1...64).contains(b.count), b.first != UInt8(ascii: ".") else { return false }
        return b.allSatisfy { isAlphanumeric($0) || "._-".utf8.contains($0) }
    }

    @inline(__always)
    static func isAlphanumeric(_ c: UInt8) -> Bool {
        (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A)
    }

    static func checkUserID(_ id: String) throws -> String {
        guard isValidUserID(id) else {
            throw HTTPError.unprocessable("Invalid user_id: it must be 1 to 128 characters from A-Z a-z 0-9 | . _ @ + - and not '.' or '..'.")
        }
        return id
    }

    static func checkSessionID(_ id: String) throws -> String {
        guard isValidSessionID(id) else {
            throw HTTPError.unprocessable("Invalid session_id: it must be 1 to 64 characters from A-Z a-z 0-9 . _ - and not start with '.'.")
        }
        return id
    }

    /// `YYYYMMDDTHHMMSSZ-` and 8 random hex digits: ids that sort by time.
    static func newSessionID(at date: Date) -> String {
        var g = SystemRandomNumberGenerator()
        return Timestamp.compact(date) + "-" + Hex.encode(padded: g.next() as UInt32)
    }
}
