import HTTP
import Storage
import XCTest

/// Storage errors say their own HTTP meaning; `ErrorResponse` is the one place that
/// renders them (and anything else, as a 500).
final class StorageErrorResponseTests: XCTestCase {
    func request() -> Request { Request(method: "GET", target: "/api/v1/user_settings/u", headers: Headers()) }

    func detail(_ response: Response) -> String? {
        guard case .bytes(let bytes) = response.body else { return nil }
        return String(decoding: bytes, as: UTF8.self)
    }

    func testAnUnreachableStoreIsA503WithRetryAfterNeverA500() {
        let response = ErrorResponse.response(for: StorageError.unavailable("cannot write /x: No space left on device"), request: request())
        XCTAssertEqual(response.status, .serviceUnavailable)
        XCTAssertEqual(response.headers["Retry-After"], "5")
        XCTAssertEqual(detail(response), #"{"detail":"Storage is temporarily unavailable; please try again later."}"#)
    }

    func testEachStorageErrorHasItsStatus() {
        let cases: [(StorageError, Status, String)] = [
            (.notFound("k"), .notFound, "Not found."),
            (.alreadyExists("k"), .conflict, "It already exists; nothing was overwritten."),
            (.preconditionFailed("k"), .preconditionFailed, "The stored version has changed since it was read."),
            (.invalidKey("../k"), .unprocessable, "Invalid identifier."),
        ]
        for (error, status, text) in cases {
            let response = ErrorResponse.response(for: error, request: request())
            XCTAssertEqual(response.status, status, "\(error)")
            XCTAssertNil(response.headers["Retry-After"], "\(error)")
            XCTAssertEqual(detail(response), #"{"detail":""# + text + #""}"#)
        }
    }

    func testAnErrorWithoutAStatusIsA500ThatSaysNothingOfItsCause() {
        struct Secret: Error {}
        let response = ErrorResponse.response(for: Secret(), request: request())
        XCTAssertEqual(response.status, .internalServerError)
        XCTAssertEqual(detail(response), #"{"detail":"Internal Server Error"}"#)
    }

    func testHTTPErrorKeepsItsInitialisersAndRendersTheSameWay() {
        let error = HTTPError.unavailable("later", retryAfter: 7)
        XCTAssertEqual(error.response.status, .serviceUnavailable)
        XCTAssertEqual(error.response.headers["Retry-After"], "7")
        XCTAssertEqual(detail(ErrorResponse.response(for: error, request: request())), #"{"detail":"later"}"#)
    }
}
