import Auth
import Operations
import RecstoreConfiguration
import Foundation
import JSON
import XCTest
import DevIssuer

final class DevIssuerTests: XCTestCase {
    var directory: String!

    override func setUp() {
        directory = NSTemporaryDirectory() + "recstore-dev-issuer-\(UUID().uuidString)/dev-issuer"
    }

    override func tearDown() {
        try? FileManager.default.removeItem(atPath: (directory as NSString).deletingLastPathComponent)
    }

    func mode(_ path: String) throws -> Int {
        try XCTUnwrap(FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int)
    }

    func testPrepareMakesAPrivateKeyAndItsJWKS() throws {
        let issuer = try DevIssuer.prepare(directory: directory)
        XCTAssertEqual(issuer.issuer, "https://recstore.dev.invalid/")
        XCTAssertEqual(issuer.audience, "recstore-dev")
        XCTAssertEqual(try mode(directory), 0o700)
        XCTAssertEqual(try mode(directory + "/private.pem"), 0o600)
        let key = try RSAPrivateKey(pem: String(contentsOfFile: directory + "/private.pem", encoding: .utf8))
        XCTAssertEqual(key.bits, 2048)

        let jwks = try JWKSet.parse(Array(FileManager.default.contents(atPath: issuer.jwksPath)!))
        XCTAssertEqual(Array(jwks.keys.keys), [key.thumbprint])
        XCTAssertEqual(jwks.keys[key.thumbprint]?.publicKey.pem, key.publicPEM)
        XCTAssertEqual(issuer.environment.map(\.name), ["AUTH0_ISSUER", "AUTH0_AUDIENCE", "AUTH0_JWKS_FILE"])
        XCTAssertTrue(issuer.jwksPath.hasPrefix("/"))
    }

    func testPrepareIsIdempotentAndKeepsTheKey() throws {
        let first = try DevIssuer.prepare(directory: directory)
        let pem = try String(contentsOfFile: directory + "/private.pem", encoding: .utf8)
        let second = try DevIssuer.prepare(directory: directory)
        XCTAssertEqual(try String(contentsOfFile: directory + "/private.pem", encoding: .utf8), pem)
        XCTAssertEqual(first.signer.kid, second.signer.kid)
        XCTAssertEqual(try DevIssuer.load(directory: directory).signer.kid, first.signer.kid)
    }

    func testItsTokensPassTheServicesChecksThroughAJWKSFile() throws {
        let issuer = try DevIssuer.prepare(directory: directory)
        var env: [String: String] = [:]
        for (name, value) in issuer.environment { env[name] = value }
        let configuration = try Configuration.load(env)
        XCTAssertEqual(configuration.identity.jwksSource, .file(issuer.jwksPath))
        let auth = JWTAuthenticator(options: AuthOptions(configuration.identity))
        XCTAssertNil(auth.readinessProblem())

        let token = try DevIssuer.load(directory: directory).token(subject: "auth0|dev-alice", lifetime: 600)
        XCTAssertEqual(try auth.verify(token), "auth0|dev-alice")
        let expired = try issuer.token(subject: "auth0|dev-alice", lifetime: 30, now: Date(timeIntervalSinceNow: -100))
        XCTAssertThrowsError(try auth.verify(expired))
    }

    func testLoadRefusesAMissingOrInconsistentIssuer() throws {
        XCTAssertThrowsError(try DevIssuer.load(directory: directory)) { error in
            XCTAssertTrue("\(error)".contains("no dev issuer"), "\(error)")
        }
        _ = try DevIssuer.prepare(directory: directory)
        let other = try RSAPrivateKey.generate()
        try other.privatePEM.write(toFile: directory + "/private.pem", atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try DevIssuer.load(directory: directory)) { error in
            XCTAssertTrue("\(error)".contains("does not match"), "\(error)")
        }
    }

    func testDefaultDirectoryFollowsRunDir() {
        XCTAssertEqual(DevIssuer.defaultDirectory(environment: [:]), "./.run/dev-issuer")
        XCTAssertEqual(DevIssuer.defaultDirectory(environment: ["RUN_DIR": "/tmp/stack-2"]), "/tmp/stack-2/dev-issuer")
    }
}
