import RecstoreConfiguration
import XCTest

/// The service never starts open: issuer, audience and a JWKS source, all three.
final class IdentityConfigurationTests: XCTestCase {
    func refusal(_ env: [String: String], file: StaticString = #filePath, line: UInt = #line) -> String {
        do {
            _ = try Configuration.load(env)
            XCTFail("started with \(env)", file: file, line: line)
            return ""
        } catch {
            return error.description
        }
    }

    func testNothingConfiguredIsRefused() {
        let message = refusal([:])
        XCTAssertTrue(message.contains("an issuer"), message)
        XCTAssertTrue(message.contains("an audience"), message)
        XCTAssertTrue(message.contains("a JWKS source"), message)
    }

    func testEachMissingPieceIsNamed() {
        var m = refusal(["AUTH0_AUDIENCE": "api"])
        XCTAssertTrue(m.contains("an issuer") && m.contains("a JWKS source") && !m.contains("an audience"), m)

        m = refusal(["AUTH0_DOMAIN": "tenant.eu.auth0.com"])
        XCTAssertTrue(m.contains("an audience (AUTH0_AUDIENCE)") && !m.contains("an issuer") && !m.contains("JWKS"), m)

        m = refusal(["AUTH0_ISSUER": "https://tenant.eu.auth0.com/", "AUTH0_AUDIENCE": "api"])
        XCTAssertTrue(m.contains("a JWKS source") && !m.contains("an issuer") && !m.contains("an audience"), m)
        XCTAssertTrue(m.hasPrefix("AUTH0_JWKS_URL:"), m)

        m = refusal(["AUTH0_JWKS_FILE": "/tmp/jwks.json", "AUTH0_AUDIENCE": "api"])
        XCTAssertTrue(m.contains("an issuer") && !m.contains("a JWKS source"), m)
        XCTAssertTrue(m.hasPrefix("AUTH0_DOMAIN:"), m)

        m = refusal(["AUTH0_AUDIENCE": "   ", "AUTH0_DOMAIN": "tenant.eu.auth0.com"])
        XCTAssertTrue(m.contains("an audience"), "blank counts as missing: \(m)")
    }

    func testPlainHTTPJWKSOnlyToLoopback() throws {
        let base = ["AUTH0_ISSUER": "https://i/", "AUTH0_AUDIENCE": "a"]
        let m = refusal(base.merging(["AUTH0_JWKS_URL": "http://issuer.example/jwks.json"]) { $1 })
        XCTAssertTrue(m.hasPrefix("AUTH0_JWKS_URL:"), m)
        for url in ["http://127.0.0.1:9/jwks.json", "http://localhost:9/jwks.json", "https://issuer.example/jwks.json"] {
            XCTAssertEqual(try Configuration.load(base.merging(["AUTH0_JWKS_URL": url]) { $1 }).identity.jwksSource, .url(url))
        }
    }

    func testTheDomainGivesIssuerAndJWKS() throws {
        let c = try Configuration.load(["AUTH0_DOMAIN": "https://tenant.eu.auth0.com/", "AUTH0_AUDIENCE": "https://api"])
        XCTAssertEqual(c.identity.issuer, "https://tenant.eu.auth0.com/")
        XCTAssertEqual(c.identity.audience, "https://api")
        XCTAssertEqual(c.identity.jwksSource, .url("https://tenant.eu.auth0.com/.well-known/jwks.json"))
        XCTAssertEqual(c.identity.algorithms, ["RS256"])
        XCTAssertEqual(c.identity.leewaySeconds, 60)
    }

    func testAlgorithmsAreAsymmetricOnly() {
        let base = ["AUTH0_DOMAIN": "t.auth0.com", "AUTH0_AUDIENCE": "a"]
        for bad in ["HS256", "none", "RS256,HS256", "ES256"] {
            XCTAssertTrue(refusal(base.merging(["JWT_ALGORITHMS": bad]) { $1 }).hasPrefix("JWT_ALGORITHMS:"))
        }
    }
}
