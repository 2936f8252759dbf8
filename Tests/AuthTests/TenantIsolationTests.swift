import Auth
import HTTP
import XCTest

final class TenantIsolationTests: XCTestCase {
    func testTheCallerActsOnlyForThemself() throws {
        XCTAssertEqual(try TenantIsolation.userID(requested: nil, caller: "auth0|alice"), "auth0|alice")
        XCTAssertEqual(try TenantIsolation.userID(requested: "", caller: "auth0|alice"), "auth0|alice")
        XCTAssertEqual(try TenantIsolation.userID(requested: "auth0|alice", caller: "auth0|alice"), "auth0|alice")
        for other in ["auth0|bob", "auth0|ALICE", "auth0|alice ", "auth0%7Calice"] {
            XCTAssertThrowsError(try TenantIsolation.userID(requested: other, caller: "auth0|alice")) { error in
                XCTAssertEqual((error as? HTTPError)?.status, .forbidden)
            }
        }
    }

    func testRequestHelperNeedsAnAuthenticatedCaller() throws {
        let request = Request(method: "GET", target: "/api/v1/user_settings/auth0%7Calice")
        XCTAssertThrowsError(try request.actingUserID("auth0|alice")) { error in
            XCTAssertEqual((error as? HTTPError)?.status, .unauthorized)
        }
        request.caller = "auth0|alice"
        XCTAssertEqual(try request.actingUserID("auth0|alice"), "auth0|alice")
        XCTAssertEqual(try request.actingUserID(nil), "auth0|alice")
        XCTAssertThrowsError(try request.actingUserID("auth0|bob")) { error in
            XCTAssertEqual((error as? HTTPError)?.status, .forbidden)
        }
    }
}
