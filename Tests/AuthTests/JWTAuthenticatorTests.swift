import Auth
import Operations
import RecstoreConfiguration
import CJWT
import HTTP
import JSON
import XCTest

final class JWTAuthenticatorTests: XCTestCase {
    var f: Fixture!

    override func setUpWithError() throws { f = try Fixture() }
    override func tearDown() { f = nil }

    // MARK: Accepted

    func testValidTokensNameTheirSubject() {
        for sub in ["auth0|5f7c8ec7c33c6c004bbafe82", "google-oauth2|1034"] {
            assertAccepted(f.authenticate(f.token(f.claims(sub: .string(sub)))), sub)
        }
    }

    func testAuthenticateNamesThePrincipal() throws {
        let request = f.request(authorization: "Bearer " + f.token())
        let principal = try f.auth.authenticate(request)
        XCTAssertEqual(principal, Principal(subject: "auth0|5f7c8ec7c33c6c004bbafe82"))
    }

    func testOptionsComeFromTheConfigurationOnlyAtTheEdge() throws {
        var c = IdentitySettings()
        c.issuer = "https://issuer.example/"
        c.audience = "api"
        c.algorithms = ["RS384"]
        c.leewaySeconds = 5
        c.jwksSource = .file("/nonexistent/jwks.json")
        c.jwksTTLSeconds = 30
        c.jwksTimeoutSeconds = 2
        XCTAssertEqual(AuthOptions(c),
                       AuthOptions(issuer: "https://issuer.example/", audience: "api", algorithms: ["RS384"], leewaySeconds: 5,
                                   jwksSource: .file("/nonexistent/jwks.json"), jwksTTLSeconds: 30, jwksTimeoutSeconds: 2))
    }

    func testAudienceAsStringOrArray() {
        assertAccepted(f.authenticate(f.token(f.claims(aud: .string(Fixture.audience)))), "auth0|5f7c8ec7c33c6c004bbafe82")
        let both = JSON.array([.string(Fixture.audience), .string("https://tenant.example.auth0.com/userinfo")])
        assertAccepted(f.authenticate(f.token(f.claims(aud: both))), "auth0|5f7c8ec7c33c6c004bbafe82")
        assertRefused(f.authenticate(f.token(f.claims(aud: .array([.string("https://other.example/api")])))), "wrong audience")
        assertRefused(f.authenticate(f.token(f.claims(aud: .array([])))), "wrong audience")
    }

    func testSchemeIsCaseInsensitiveAndSpacesAreTolerated() {
        assertAccepted(f.authenticate(header: "bearer " + f.token()), "auth0|5f7c8ec7c33c6c004bbafe82")
        assertAccepted(f.authenticate(header: "Bearer   " + f.token() + " "), "auth0|5f7c8ec7c33c6c004bbafe82")
    }

    // MARK: Algorithms

    func testAlgNoneIsRefused() {
        let unsigned = Base64URL.encode(TokenFactory.header(alg: "none", kid: "key-a")) + "." + Base64URL.encode(f.claims()) + "."
        assertRefused(f.authenticate(unsigned), "alg none is not allowed")
        let dressedUp = TokenFactory.token(header: TokenFactory.header(alg: "none", kid: "key-a"), payload: f.claims(),
                                           key: nil, signature: [1, 2, 3])
        assertRefused(f.authenticate(dressedUp), "alg none is not allowed")
        let shouted = TokenFactory.token(header: TokenFactory.header(alg: "NONE", kid: "key-a"), payload: f.claims(),
                                         key: nil, signature: [1])
        assertRefused(f.authenticate(shouted), "alg none is not allowed")
        XCTAssertEqual(f.auth.verificationCount, 0)
    }

    /// The attack NOTES.md describes: libjwt alone accepts it; the authenticator must not.
    func testHS256SignedWithThePublicKeyAsSecretIsRefused() throws {
        let pem = Array(TestKeys.a.publicPEM.utf8)
        let header = TokenFactory.header(alg: "HS256", kid: "key-a")
        let input = Base64URL.encode(header) + "." + Base64URL.encode(f.claims())
        let forged = input + "." + Base64URL.encode(TokenFactory.hmacSHA256(key: pem, message: Array(input.utf8)))

        // libjwt on its own, given the RSA public key, is fooled.
        var jwt: OpaquePointer?
        let rc = pem.withUnsafeBufferPointer { jwt_decode(&jwt, forged, $0.baseAddress, Int32($0.count)) }
        defer { if let jwt { jwt_free(jwt) } }
        XCTAssertEqual(rc, 0, "libjwt 1.10.2 accepts the algorithm-confusion token; if this changed, NOTES.md is stale")

        assertRefused(f.authenticate(forged), "HMAC algorithms are not allowed")
        XCTAssertEqual(f.auth.verificationCount, 0)
    }

    func testAlgorithmsOutsideTheConfiguredOnesAreRefused() {
        assertRefused(f.authenticate(f.token(alg: "RS384")), "algorithm not allowed")
        assertRefused(f.authenticate(f.token(alg: "RS512")), "algorithm not allowed")
        let ps = TokenFactory.token(header: TokenFactory.header(alg: "PS256", kid: "key-a"), payload: f.claims(), key: nil, signature: [1])
        assertRefused(f.authenticate(ps), "algorithm not allowed")
        let noAlg = TokenFactory.token(header: "{\"kid\":\"key-a\"}", payload: f.claims(), key: TestKeys.a)
        assertRefused(f.authenticate(noAlg), "token header has no alg")
    }

    func testTheKeysAlgIsEnforcedWhenSeveralAlgorithmsAreAllowed() throws {
        let f = try Fixture(extraEnvironment: ["JWT_ALGORITHMS": "RS256,RS512"])
        // key-a is published with "alg": "RS256": an RS512 signature by the same key is not for it.
        assertRefused(f.authenticate(f.token(alg: "RS512")), "the signing key is not for this algorithm")
        assertAccepted(f.authenticate(f.token(alg: "RS256")), "auth0|5f7c8ec7c33c6c004bbafe82")
    }

    func testCriticalHeaderExtensionsAreRefused() {
        let header = "{\"alg\":\"RS256\",\"kid\":\"key-a\",\"crit\":[\"exp\"],\"exp\":1}"
        assertRefused(f.authenticate(TokenFactory.token(header: header, payload: f.claims(), key: TestKeys.a)),
                      "unsupported critical header parameters")
    }

    // MARK: Keys and signatures

    func testSignatureByAKeyNotInTheJWKSIsRefused() {
        // Claiming a published kid but signed by another key.
        assertRefused(f.authenticate(f.token(key: TestKeys.outsider, kid: "key-a")), "signature verification failed")
        // Its own kid is not published.
        assertRefused(f.authenticate(f.token(key: TestKeys.outsider, kid: "outsider")), "no key with this kid in the issuer's JWKS")
    }

    func testMissingOrUnknownKid() {
        assertRefused(f.authenticate(f.token(kid: nil)), "token header has no kid")
        assertRefused(f.authenticate(f.token(kid: "")), "token header has no kid")
        assertRefused(f.authenticate(f.token(kid: "key-zz")), "no key with this kid in the issuer's JWKS")
        let numericKid = TokenFactory.token(header: "{\"alg\":\"RS256\",\"kid\":7}", payload: f.claims(), key: TestKeys.a)
        assertRefused(f.authenticate(numericKid), "token header has no kid")
    }

    func testTamperedPayloadIsRefused() {
        let parts = f.token().split(separator: ".").map(String.init)
        let other = Base64URL.encode(f.claims(sub: .string("auth0|bob")))
        assertRefused(f.authenticate([parts[0], other, parts[2]].joined(separator: ".")), "signature verification failed")
    }

    func testTamperedSignatureIsRefused() {
        let parts = f.token().split(separator: ".").map(String.init)
        var signature = Base64URL.decode(parts[2])!
        signature[signature.count / 2] ^= 0x01
        assertRefused(f.authenticate([parts[0], parts[1], Base64URL.encode(signature)].joined(separator: ".")),
                      "signature verification failed")
        let truncated = Base64URL.encode(Array(Base64URL.decode(parts[2])!.dropLast()))
        assertRefused(f.authenticate([parts[0], parts[1], truncated].joined(separator: ".")), "signature verification failed")
    }

    // MARK: Time claims

    func testExpiredIsRefusedAndJustInsideTheLeewayAccepted() {
        // Default leeway: 60 s.
        assertRefused(f.authenticate(f.token(f.claims(exp: .int(f.now - 61), iat: .int(f.now - 3700)))), "token expired")
        assertRefused(f.authenticate(f.token(f.claims(exp: .int(f.now - 60), iat: .int(f.now - 3700)))), "token expired")
        assertAccepted(f.authenticate(f.token(f.claims(exp: .int(f.now - 59), iat: .int(f.now - 3700)))), "auth0|5f7c8ec7c33c6c004bbafe82")
        assertAccepted(f.authenticate(f.token(f.claims(exp: .number("\(f.now + 10).5")))), "auth0|5f7c8ec7c33c6c004bbafe82")
    }

    func testConfiguredLeewayIsUsed() throws {
        let f = try Fixture(extraEnvironment: ["JWT_LEEWAY_SECONDS": "0"])
        assertRefused(f.authenticate(f.token(f.claims(exp: .int(f.now)))), "token expired")
        assertAccepted(f.authenticate(f.token(f.claims(exp: .int(f.now + 1)))), "auth0|5f7c8ec7c33c6c004bbafe82")
        assertRefused(f.authenticate(f.token(f.claims(nbf: .int(f.now + 1)))), "token not yet valid")
    }

    func testMissingOrNonNumericExpIsRefused() {
        let noExp = JSON.object(JSONObject([("iss", .string(Fixture.issuer)), ("sub", .string("a")), ("aud", .string(Fixture.audience))]))
        assertRefused(f.authenticate(f.token(noExp.serialized())), "token has no exp")
        assertRefused(f.authenticate(f.token(f.claims(exp: .string("\(f.now + 100)")))), "token exp is not a number")
    }

    func testNotBeforeInTheFutureIsRefused() {
        assertRefused(f.authenticate(f.token(f.claims(nbf: .int(f.now + 120)))), "token not yet valid")
        assertAccepted(f.authenticate(f.token(f.claims(nbf: .int(f.now + 30)))), "auth0|5f7c8ec7c33c6c004bbafe82")
        assertRefused(f.authenticate(f.token(f.claims(nbf: .bool(true)))), "token nbf is not a number")
    }

    func testIssuedInTheFutureIsRefused() {
        assertRefused(f.authenticate(f.token(f.claims(iat: .int(f.now + 120)))), "token issued in the future")
        assertAccepted(f.authenticate(f.token(f.claims(iat: .int(f.now + 30)))), "auth0|5f7c8ec7c33c6c004bbafe82")
    }

    // MARK: Identity claims

    func testWrongIssuerIsRefused() {
        assertRefused(f.authenticate(f.token(f.claims(iss: .string("https://evil.example.auth0.com/")))), "wrong issuer")
        // Exactly: not "the same up to a slash".
        assertRefused(f.authenticate(f.token(f.claims(iss: .string("https://tenant.example.auth0.com")))), "wrong issuer")
        assertRefused(f.authenticate(f.token(f.claims(iss: nil))), "wrong issuer")
    }

    func testWrongAudienceIsRefused() {
        assertRefused(f.authenticate(f.token(f.claims(aud: .string("https://other.example/api")))), "wrong audience")
        assertRefused(f.authenticate(f.token(f.claims(aud: nil))), "wrong audience")
    }

    func testMissingSubjectIsRefused() {
        assertRefused(f.authenticate(f.token(f.claims(sub: nil))), "token has no subject")
        assertRefused(f.authenticate(f.token(f.claims(sub: .string("")))), "token has no subject")
        assertRefused(f.authenticate(f.token(f.claims(sub: .int(42)))), "token has no subject")
    }

    // MARK: Malformed

    func testMalformedTokensAreRefusedBeforeAnyCrypto() {
        let good = f.token()
        let parts = good.split(separator: ".").map(String.init)
        assertRefused(f.authenticate(parts[0]), "token must have three dot-separated parts")
        assertRefused(f.authenticate(parts[0] + "." + parts[1]), "token must have three dot-separated parts")
        assertRefused(f.authenticate(good + "." + parts[2]), "token must have three dot-separated parts")
        assertRefused(f.authenticate("a.b.c.d"), "token must have three dot-separated parts")
        assertRefused(f.authenticate("!!!." + parts[1] + "." + parts[2]), "token header is not base64url")
        assertRefused(f.authenticate(parts[0] + "=." + parts[1] + "." + parts[2]), "token header is not base64url")
        assertRefused(f.authenticate(parts[0] + ".%%%." + parts[2]), "token payload is not base64url")
        assertRefused(f.authenticate(parts[0] + "." + parts[1] + ".***"), "token signature is missing or not base64url")
        assertRefused(f.authenticate(parts[0] + "." + parts[1] + "."), "token signature is missing or not base64url")
        assertRefused(f.authenticate(Base64URL.encode("not json") + "." + parts[1] + "." + parts[2]), "token header is not a JSON object")
        assertRefused(f.authenticate(Base64URL.encode("[\"RS256\"]") + "." + parts[1] + "." + parts[2]), "token header is not a JSON object")
        assertRefused(f.authenticate(Base64URL.encode([0xFF, 0xFE]) + "." + parts[1] + "." + parts[2]), "token header is not a JSON object")
        let notAnObject = f.token("[1,2,3]")
        assertRefused(f.authenticate(notAnObject), "token claims are not a JSON object")
        XCTAssertEqual(f.auth.verificationCount, 1, "only the well-formed one reached the signature check")
    }

    func testTokensOver8KiBAreRefusedEvenWhenValid() {
        let big = f.token(f.claims(extra: [("padding", .string(String(repeating: "x", count: 9 * 1024)))]))
        XCTAssertGreaterThan(big.utf8.count, 9 * 1024)
        assertRefused(f.authenticate(big), "token is larger than 8 KiB")
        XCTAssertEqual(f.auth.verificationCount, 0)
    }

    // MARK: Authorization header

    func testMissingHeaderIsAChallengeWithoutError() {
        for header in [nil, "", "   "] as [String?] {
            guard case .failure(let e) = f.authenticate(header: header) else { return XCTFail("accepted without a header") }
            XCTAssertEqual(e.status, .unauthorized)
            XCTAssertEqual(e.headers["WWW-Authenticate"], "Bearer realm=\"recstore\"")
            XCTAssertEqual(e.detail, "Not authenticated")
        }
    }

    func testOtherSchemesAreRefused() {
        assertRefused(f.authenticate(header: "Basic YWxpY2U6c2VjcmV0"), "the Authorization scheme must be Bearer")
        assertRefused(f.authenticate(header: "Token " + f.token()), "the Authorization scheme must be Bearer")
        assertRefused(f.authenticate(header: "Bearer" + f.token()), "the Authorization scheme must be Bearer")
    }

    func testBearerWithNothingAfterIt() {
        assertRefused(f.authenticate(header: "Bearer"), "no token after Bearer")
        assertRefused(f.authenticate(header: "Bearer    "), "no token after Bearer")
    }

    // MARK: Cost per request

    func testTheSameTokenIsVerifiedOnceWhileValid() {
        let token = f.token(f.claims(exp: .int(f.now + 120)))
        for _ in 0..<1000 { assertAccepted(f.authenticate(token), "auth0|5f7c8ec7c33c6c004bbafe82") }
        XCTAssertEqual(f.auth.verificationCount, 1)

        // Expiry is still checked on every request.
        f.clock.advance(120 + 60 - 1)
        assertAccepted(f.authenticate(token), "auth0|5f7c8ec7c33c6c004bbafe82")
        XCTAssertEqual(f.auth.verificationCount, 1)
        f.clock.advance(1)
        assertRefused(f.authenticate(token), "token expired")
    }

    func testConcurrentRequestsShareTheCache() {
        let tokens = (0..<8).map { f.token(f.claims(sub: .string("user-\($0)"))) }
        let auth = f.auth
        DispatchQueue.concurrentPerform(iterations: 800) { i in
            let request = Request(method: "GET", target: "/api/v1/upload/storage-info",
                                  headers: Headers([("Authorization", "Bearer " + tokens[i % 8])]))
            XCTAssertEqual(try? auth.authenticate(request).subject, "user-\(i % 8)")
        }
        // Threads racing on a token's first use may each verify it; never more than that.
        XCTAssertGreaterThanOrEqual(auth.verificationCount, 8)
        XCTAssertLessThan(auth.verificationCount, 8 * 8)
    }
}
