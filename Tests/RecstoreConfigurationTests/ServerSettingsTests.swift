import XCTest
@testable import RecstoreConfiguration

final class ServerSettingsTests: XCTestCase {
    func testOperationsSettingsAreChecked() throws {
        let identity = ["AUTH0_ISSUER": "https://i.test/", "AUTH0_AUDIENCE": "a", "AUTH0_JWKS_FILE": "/dev/null"]
        let defaults = try Configuration.load(identity)
        XCTAssertEqual(defaults.server.slowRequestSeconds, 5)
        XCTAssertEqual(defaults.server.operationsAllowFrom, ["127.0.0.0/8", "::1"])
        let set = try Configuration.load(identity.merging(["SLOW_REQUEST_SECONDS": "0.5",
                                                           "OPERATIONS_ALLOW_FROM": "10.0.5.0/24, ::1"]) { $1 })
        XCTAssertEqual(set.server.slowRequestSeconds, 0.5)
        XCTAssertEqual(set.server.operationsAllowFrom, ["10.0.5.0/24", "::1"])
        XCTAssertThrowsError(try Configuration.load(identity.merging(["SLOW_REQUEST_SECONDS": "0"]) { $1 })) { error in
            XCTAssertEqual((error as? ConfigurationError)?.variable, "SLOW_REQUEST_SECONDS")
        }
        XCTAssertThrowsError(try Configuration.load(identity.merging(["OPERATIONS_ALLOW_FROM": "10.0.0.0/99"]) { $1 })) { error in
            XCTAssertEqual((error as? ConfigurationError)?.variable, "OPERATIONS_ALLOW_FROM")
        }
    }
}
