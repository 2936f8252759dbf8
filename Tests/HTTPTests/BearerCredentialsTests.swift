import HTTP
import XCTest

final class BearerCredentialsTests: XCTestCase {
    func testNoHeaderOrOnlyWhiteSpaceIsAbsent() {
        for value in [nil, "", "   ", "\t"] as [String?] {
            XCTAssertEqual(BearerCredentials(authorization: value), .absent, "\(String(describing: value))")
        }
    }

    func testTheSchemeIsMatchedWithoutCaseAndTheTokenTrimmed() {
        XCTAssertEqual(BearerCredentials(authorization: "Bearer abc.def.ghi"), .token("abc.def.ghi"))
        XCTAssertEqual(BearerCredentials(authorization: "  bEaReR \t abc.def.ghi \t"), .token("abc.def.ghi"))
    }

    func testOtherSchemesAndARunTogetherBearer() {
        XCTAssertEqual(BearerCredentials(authorization: "Basic YWxpY2U6c2VjcmV0"), .otherScheme)
        XCTAssertEqual(BearerCredentials(authorization: "Bearerabc.def.ghi"), .otherScheme)
        XCTAssertEqual(BearerCredentials(authorization: "Bearer-x abc"), .otherScheme)
    }

    func testBearerAloneIsEmpty() {
        XCTAssertEqual(BearerCredentials(authorization: "Bearer"), .empty)
        XCTAssertEqual(BearerCredentials(authorization: "Bearer   \t "), .empty)
    }

    func testTheRequestsHeaderIsRead() {
        var headers = Headers()
        headers.set("authorization", "Bearer t0k3n")
        XCTAssertEqual(Request(method: "GET", target: "/", headers: headers).bearerCredentials, .token("t0k3n"))
    }
}
