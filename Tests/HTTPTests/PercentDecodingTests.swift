import XCTest
@testable import HTTP

final class PercentDecodingTests: XCTestCase {
    func testDecodesEscapesOnce() {
        XCTAssertEqual(PercentDecoding.decode("a%20b"), "a b")
        XCTAssertEqual(PercentDecoding.decode("auth0%7cabc"), "auth0|abc")
        XCTAssertEqual(PercentDecoding.decode("%252F"), "%2F")
        XCTAssertEqual(PercentDecoding.decode("caf%C3%A9"), "café")
        XCTAssertEqual(PercentDecoding.decode("plain"), "plain")
        XCTAssertEqual(PercentDecoding.decode(""), "")
    }

    func testPlusIsASpaceOnlyWhenAsked() {
        XCTAssertEqual(PercentDecoding.decode("a+b"), "a+b")
        XCTAssertEqual(PercentDecoding.decode("a+b", plusIsSpace: true), "a b")
        XCTAssertEqual(PercentDecoding.decode("a%2Bb", plusIsSpace: true), "a+b")
    }

    func testRefusesMalformedEscapesAndInvalidUTF8() {
        for bad in ["%", "%4", "a%G1", "%zz", "%FF", "%C3", "%C3%28"] {
            XCTAssertNil(PercentDecoding.decode(bad), bad)
        }
    }

    func testEncodeSegmentKeepsOnlyUnreserved() {
        XCTAssertEqual(PercentDecoding.encodeSegment("auth0|abc"), "auth0%7Cabc")
        XCTAssertEqual(PercentDecoding.encodeSegment("a-b.c_d~e"), "a-b.c_d~e")
        XCTAssertEqual(PercentDecoding.encodeSegment("a/b c@d+e"), "a%2Fb%20c%40d%2Be")
        XCTAssertEqual(PercentDecoding.encodeSegment("é"), "%C3%A9")
        for s in ["google-oauth2|1034", "x/y?z#", "ünï cødé"] {
            XCTAssertEqual(PercentDecoding.decode(PercentDecoding.encodeSegment(s)), s)
        }
    }
}
