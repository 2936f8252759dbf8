import XCTest
@testable import RecstoreConfiguration

/// Identity and endpoint values that carry an inline comment or a second word are
/// refused at start, naming the variable (systemd keeps `# ...` in the value).
final class SingleWordValuesTests: XCTestCase {
    let auth = ["AUTH0_DOMAIN": "tenant.eu.auth0.com", "AUTH0_AUDIENCE": "https://api.example"]

    func refusal(_ extra: [String: String], file: StaticString = #filePath, line: UInt = #line) -> ConfigurationError? {
        do {
            _ = try Configuration.load(auth.merging(extra) { $1 })
            XCTFail("accepted \(extra)", file: file, line: line)
            return nil
        } catch {
            return error
        }
    }

    func testInlineCommentsAreRefused() {
        for name in ["AUTH0_ISSUER", "AUTH0_AUDIENCE", "AUTH0_DOMAIN", "AUTH0_JWKS_URL", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"] {
            let error = refusal([name: "https://tenant.eu.auth0.com/      # default: from the domain"])
            XCTAssertEqual(error?.variable, name)
            XCTAssertTrue(error?.description.contains("#") ?? false, error?.description ?? "")
            // A '#' glued to the value (no space) is refused too.
            XCTAssertEqual(refusal([name: "https://tenant.eu.auth0.com/#x"])?.variable, name)
        }
    }

    func testInnerWhitespaceIsRefused() {
        XCTAssertEqual(refusal(["AUTH0_AUDIENCE": "https://api.example other"])?.variable, "AUTH0_AUDIENCE")
        XCTAssertEqual(refusal(["AUTH0_ISSUER": "https://i.example/\tx"])?.variable, "AUTH0_ISSUER")
        XCTAssertEqual(refusal(["AUTH0_JWKS_URL": "https://i.example/jw\u{00A0}ks.json"])?.variable, "AUTH0_JWKS_URL")
    }

    func testRefusedEvenForStorageOnlyCommands() {
        XCTAssertThrowsError(try Configuration.load(["AWS_ENDPOINT_URL_S3": "http://127.0.0.1:9000 # moto"], requireIdentity: false)) { error in
            XCTAssertEqual((error as? ConfigurationError)?.variable, "AWS_ENDPOINT_URL_S3")
        }
    }

    func testSurroundingSpacesAndPlainValuesStillLoad() throws {
        let c = try Configuration.load(auth.merging(["AUTH0_ISSUER": "  https://tenant.eu.auth0.com/  "]) { $1 })
        XCTAssertEqual(c.identity.issuer, "https://tenant.eu.auth0.com/")
        XCTAssertEqual(c.identity.audience, "https://api.example")
    }
}
