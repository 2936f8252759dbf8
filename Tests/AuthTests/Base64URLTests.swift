import Auth
import XCTest

final class Base64URLTests: XCTestCase {
    func testRoundTripsEveryLength() {
        for length in 0..<70 {
            let bytes = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 250) }
            let text = Base64URL.encode(bytes)
            XCTAssertFalse(text.contains("=") || text.contains("+") || text.contains("/"))
            XCTAssertEqual(Base64URL.decode(text), bytes)
        }
    }

    func testKnownValues() {
        XCTAssertEqual(Base64URL.encode("{\"alg\":\"RS256\"}"), "eyJhbGciOiJSUzI1NiJ9")
        XCTAssertEqual(Base64URL.encode([0xFB, 0xFF]), "-_8")
        XCTAssertEqual(Base64URL.decode("-_8"), [0xFB, 0xFF])
    }

    func testRefusesAnythingButOneCanonicalSpelling() {
        XCTAssertNil(Base64URL.decode("+/8"), "standard alphabet")
        XCTAssertNil(Base64URL.decode("-_8="), "padding")
        XCTAssertNil(Base64URL.decode("-_ 8"), "whitespace")
        XCTAssertNil(Base64URL.decode("A"), "impossible length")
        XCTAssertNil(Base64URL.decode("-_9"), "non-zero trailing bits")
        XCTAssertNil(Base64URL.decode("QR"), "non-zero trailing bits")
        XCTAssertEqual(Base64URL.decode("QQ"), [0x41])
        XCTAssertEqual(Base64URL.decode(""), [])
    }
}
