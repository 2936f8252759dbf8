import XCTest
@testable import RecstoreConfiguration

final class CORSOriginsTests: XCTestCase {
    let auth = ["AUTH0_DOMAIN": "tenant.eu.auth0.com", "AUTH0_AUDIENCE": "https://api.example"]

    func testNoneByDefault() throws {
        XCTAssertEqual(try Configuration.load(auth).server.corsAllowOrigins, [])
        XCTAssertEqual(try Configuration.load(auth.merging(["CORS_ALLOW_ORIGINS": "  "]) { $1 }).server.corsAllowOrigins, [])
    }

    func testCommaSeparatedExactOrigins() throws {
        let list = " http://localhost:5173, http://127.0.0.1:3000 ,https://app.example.com,,capacitor://localhost,http://[::1]:8080,https://app.example.com"
        let c = try Configuration.load(auth.merging(["CORS_ALLOW_ORIGINS": list]) { $1 })
        XCTAssertEqual(c.server.corsAllowOrigins, ["http://localhost:5173", "http://127.0.0.1:3000", "https://app.example.com",
                                            "capacitor://localhost", "http://[::1]:8080"])
    }

    func testEntriesNoBrowserSendsAreRefused() {
        for bad in ["*", "null", "localhost:5173", "http://localhost:5173/", "http://localhost:5173/app", "https://App.example.com",
                    "HTTP://localhost", "http://localhost:0", "http://localhost:65536", "http://localhost:08080", "http://",
                    "http://user@host", "https://app.example.com:443", "http://a.example:80", "http://a_b.example",
                    "http://[::1", "http://[::1]x", "http://localhost:5173?x", "https://*.example.com"] {
            XCTAssertThrowsError(try CORSOrigins.parse("http://ok.example," + bad), bad) { error in
                XCTAssertEqual((error as? ConfigurationError)?.variable, "CORS_ALLOW_ORIGINS", bad)
            }
        }
    }
}
