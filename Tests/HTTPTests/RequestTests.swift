import Foundation
import XCTest
@testable import HTTP

final class RequestTests: XCTestCase {
    func testTargetSplitsPathAndQuery() {
        let r = Request(method: "GET", target: "/a/b?x=1&y=%20z")
        XCTAssertEqual(r.rawPath, "/a/b")
        XCTAssertEqual(r.rawQuery, "x=1&y=%20z")
        XCTAssertEqual(Request(method: "GET", target: "/plain").rawQuery, "")
    }

    func testQueryIsDecodedAndTheFirstRepeatWins() {
        let r = Request(method: "GET", target: "/?limit=5&limit=9&name=a+b&empty=&flag&enc=%2Fx&bad=%zz")
        XCTAssertEqual(r.query["limit"], "5")
        XCTAssertEqual(r.query["name"], "a b")
        XCTAssertEqual(r.query["empty"], "")
        XCTAssertEqual(r.query["flag"], "")
        XCTAssertEqual(r.query["enc"], "/x")
        XCTAssertEqual(r.query["bad"], "%zz")
        XCTAssertNil(r.query["missing"])
    }

    func testRequestIDs() {
        let a = RequestID.make(), b = RequestID.make()
        XCTAssertEqual(a.count, 32)
        XCTAssertTrue(a.allSatisfy { $0.isHexDigit && !$0.isUppercase })
        XCTAssertNotEqual(a, b)
        XCTAssertTrue(RequestID.isAcceptable(a))
        XCTAssertTrue(RequestID.isAcceptable("req_1.2-3"))
        for bad in ["", "a b", "x\r\ny", "ü", String(repeating: "a", count: 129), "a;b"] {
            XCTAssertFalse(RequestID.isAcceptable(bad), bad)
        }
    }

    func testReadAllWithinAndBeyondTheLimit() throws {
        XCTAssertEqual(try BufferedBody(Array("hello".utf8), maxRead: 2).readAll(limit: 5), Array("hello".utf8))
        let body = BufferedBody(Array(repeating: 1, count: 200), maxRead: 7)
        XCTAssertThrowsError(try body.readAll(limit: 99)) { error in
            XCTAssertEqual((error as? HTTPError)?.status, .payloadTooLarge)
        }
        // Refused at once: the rest is left to the transport's bounded discard.
        var byte: UInt8 = 0
        XCTAssertEqual(try withUnsafeMutableBytes(of: &byte) { try body.read(into: $0) }, 1)
    }

    func testDrainCountsWhatWasLeft() throws {
        let body = BufferedBody(Array(repeating: 0, count: 70_000), maxRead: 1000)
        var buffer = [UInt8](repeating: 0, count: 500)
        _ = try buffer.withUnsafeMutableBytes { try body.read(into: $0) }
        XCTAssertEqual(try body.drain(), 69_500)
    }

    func testResponseHelpers() {
        let json = Response.json(.object(.init([("detail", .string("x"))])), status: .conflict)
        XCTAssertEqual(json.status, .conflict)
        XCTAssertEqual(json.headers["Content-Type"], "application/json")
        XCTAssertEqual(json.contentLength, 14)
        XCTAssertEqual(Response.text("abc").headers["Content-Type"], "text/plain; charset=utf-8")
        XCTAssertEqual(Response(body: .file(path: "/x", offset: 10, length: 20)).contentLength, 20)
        XCTAssertNil(Response(body: .stream { _ in }).contentLength)
        XCTAssertEqual(Response().contentLength, 0)
    }

    func testErrorResponsesHaveTheFastAPIShape() throws {
        let response = HTTPError.unprocessable("bad id").response
        XCTAssertEqual(response.status.rawValue, 422)
        guard case .bytes(let bytes) = response.body else { return XCTFail("no body") }
        XCTAssertEqual(String(decoding: bytes, as: UTF8.self), #"{"detail":"bad id"}"#)
        XCTAssertEqual(HTTPError.unavailable("down").response.headers["Retry-After"], "5")
        XCTAssertEqual(Status.payloadTooLarge.reason, "Content Too Large")
        XCTAssertEqual(Status(599).reason, "Status 599")
    }
}
