import XCTest
@testable import HTTP

final class HeadersTests: XCTestCase {
    func testNamesCompareCaseInsensitively() {
        let h = Headers([("Content-Type", "text/plain")])
        XCTAssertEqual(h["content-type"], "text/plain")
        XCTAssertEqual(h["CONTENT-TYPE"], "text/plain")
        XCTAssertTrue(h.contains("Content-type"))
        XCTAssertNil(h["Content-Length"])
    }

    func testAddKeepsRepeatsInOrderAndSetReplacesThemAll() {
        var h = Headers()
        h.add("Set-Cookie", "a=1")
        h.add("X-Other", "o")
        h.add("set-cookie", "b=2")
        XCTAssertEqual(h.fields.map(\.value), ["a=1", "o", "b=2"])
        XCTAssertEqual(h["Set-Cookie"], "a=1")
        h.set("SET-COOKIE", "c=3")
        XCTAssertEqual(h.fields.filter { $0.name.caseInsensitiveEquals("set-cookie") }.map(\.value), ["c=3"])
        h.remove("x-other")
        XCTAssertEqual(h.fields.count, 1)
    }

    func testCaseInsensitiveEqualsOnlyFoldsASCII() {
        XCTAssertTrue("ETag".caseInsensitiveEquals("etag"))
        XCTAssertFalse("ETag".caseInsensitiveEquals("etags"))
        XCTAssertFalse("É".caseInsensitiveEquals("é"))
        XCTAssertFalse("[".caseInsensitiveEquals("{"))
    }
}
