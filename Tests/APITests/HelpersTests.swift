import Foundation
import XCTest
import Storage
@testable import API

final class IdentifiersTests: XCTestCase {
    func testUserIDs() {
        for id in ["auth0|5f7c8ec7c33c6c004bbafe82", "google-oauth2|1034", "a", "a.b_c@d+e-f", ".x", String(repeating: "u", count: 128)] {
            XCTAssertTrue(Identifiers.isValidUserID(id), id)
        }
        for id in ["", ".", "..", "a/b", "a b", "a%7Cb", "ä", "a\u{0}", "a\\b", "a~b", String(repeating: "u", count: 129), "\u{FF0E}\u{FF0E}"] {
            XCTAssertFalse(Identifiers.isValidUserID(id), id.debugDescription)
        }
    }

    func testSessionIDs() {
        for id in ["20261121T233339Z-1a2b3c4d", "s", "a.b_c-d", String(repeating: "s", count: 64)] {
            XCTAssertTrue(Identifiers.isValidSessionID(id), id)
        }
        for id in ["", ".s", "..", "a|b", "a@b", "a/b", "a+b", String(repeating: "s", count: 65), "\u{2024}x"] {
            XCTAssertFalse(Identifiers.isValidSessionID(id), id.debugDescription)
        }
    }

    func testGeneratedSessionIDsSortByTime() {
        let a = Identifiers.newSessionID(at: Date(timeIntervalSince1970: 1_795_000_000))
        let b = Identifiers.newSessionID(at: Date(timeIntervalSince1970: 1_795_000_001))
        XCTAssertTrue(a.hasPrefix("20261118T"), a)
        XCTAssertEqual(a.count, 25)
        XCTAssertTrue(Identifiers.isValidSessionID(a))
        XCTAssertNotNil(a.range(of: #"^\d{8}T\d{6}Z-[0-9a-f]{8}$"#, options: .regularExpression))
        XCTAssertLessThan(a, b)
    }
}

final class RangeHeaderTests: XCTestCase {
    func r(_ a: Int64, _ b: Int64) -> RangeHeader { .partial(ByteRange(first: a, last: b)) }

    func testSingleRanges() {
        XCTAssertEqual(RangeHeader.resolve(nil, size: 100), .whole)
        XCTAssertEqual(RangeHeader.resolve("bytes=0-9", size: 100), r(0, 9))
        XCTAssertEqual(RangeHeader.resolve("bytes=90-", size: 100), r(90, 99))
        XCTAssertEqual(RangeHeader.resolve("bytes=-10", size: 100), r(90, 99))
        XCTAssertEqual(RangeHeader.resolve("bytes=-500", size: 100), r(0, 99))
        XCTAssertEqual(RangeHeader.resolve("bytes=50-5000", size: 100), r(50, 99))
        XCTAssertEqual(RangeHeader.resolve("Bytes = 1-1", size: 100), .whole, "a unit with spaces does not parse")
        XCTAssertEqual(RangeHeader.resolve("BYTES=1-1", size: 100), r(1, 1))
        XCTAssertEqual(RangeHeader.resolve("bytes=99-99999999999999999999999", size: 100), r(99, 99))
    }

    func testUnsatisfiable() {
        XCTAssertEqual(RangeHeader.resolve("bytes=100-", size: 100), .unsatisfiable)
        XCTAssertEqual(RangeHeader.resolve("bytes=100-200", size: 100), .unsatisfiable)
        XCTAssertEqual(RangeHeader.resolve("bytes=-0", size: 100), .unsatisfiable)
        XCTAssertEqual(RangeHeader.resolve("bytes=0-", size: 0), .unsatisfiable)
        XCTAssertEqual(RangeHeader.resolve("bytes=-5", size: 0), .unsatisfiable)
    }

    func testIgnoredHeaders() {
        for h in ["items=0-1", "bytes=", "bytes=5-1", "bytes=a-b", "bytes=0-1,5-6", "bytes=--1", "bytes=1", "bytes=+1-2"] {
            XCTAssertEqual(RangeHeader.resolve(h, size: 100), .whole, h)
        }
    }
}

final class UTF8ValidationTests: XCTestCase {
    func testStrictness() {
        XCTAssertTrue(UTF8Validation.isValid(Array("héllo wörld 🎙".utf8)))
        XCTAssertTrue(UTF8Validation.isValid([UInt8]()))
        XCTAssertFalse(UTF8Validation.isValid([0xFF]))
        XCTAssertFalse(UTF8Validation.isValid([0xC0, 0xAF]), "overlong")
        XCTAssertFalse(UTF8Validation.isValid([0xED, 0xA0, 0x80]), "surrogate")
        XCTAssertFalse(UTF8Validation.isValid([0x61, 0xE2, 0x82]), "truncated")
    }
}
