@testable import Auth
import Foundation
import HTTP
import JSON
import XCTest

final class JWKSCacheTests: XCTestCase {
    let aOnly = TestKeys.jwks([(TestKeys.a, "key-a")])
    let aAndB = TestKeys.jwks([(TestKeys.a, "key-a"), (TestKeys.b, "key-b")])
    let bOnly = TestKeys.jwks([(TestKeys.b, "key-b")])

    func testTheFirstFetchHappensAtStartUp() throws {
        let f = try Fixture()
        XCTAssertEqual(f.server.requestCount, 1)
        XCTAssertEqual(f.auth.jwksFetchCount, 1)
        XCTAssertEqual(f.auth.jwks.keyIDs, ["key-a"])
        XCTAssertNil(f.auth.readinessProblem())
        XCTAssertNil(f.auth.readinessWarning())
        assertAccepted(f.authenticate(f.token()), "auth0|5f7c8ec7c33c6c004bbafe82")
        XCTAssertEqual(f.server.requestCount, 1)
    }

    func testKeyRotationWithoutRestart() throws {
        let f = try Fixture(jwks: aOnly)
        let old = f.token()
        assertAccepted(f.authenticate(old), "auth0|5f7c8ec7c33c6c004bbafe82")
        let rotated = f.token(key: TestKeys.b, kid: "key-b")
        assertRefused(f.authenticate(rotated), "no key with this kid in the issuer's JWKS")

        f.server.serve(aAndB)
        f.clock.advance(31)
        assertAccepted(f.authenticate(rotated), "auth0|5f7c8ec7c33c6c004bbafe82")
        XCTAssertEqual(f.server.requestCount, 2)
        XCTAssertEqual(f.auth.verificationCount, 2)
        // A key added is no reason to check tokens of the keys still published again.
        assertAccepted(f.authenticate(old), "auth0|5f7c8ec7c33c6c004bbafe82")
        XCTAssertEqual(f.auth.verificationCount, 2)
    }

    func testUnknownKidsCannotHammerTheIssuer() throws {
        let f = try Fixture(jwks: aOnly)
        // Right after start-up: no refetch at all for 30 s.
        for _ in 0..<100 {
            assertRefused(f.authenticate(f.token(kid: UUID().uuidString)), "no key with this kid in the issuer's JWKS")
        }
        XCTAssertEqual(f.server.requestCount, 1)

        // 1,000 random kids over 100 s: one refetch per 30 s at most.
        for i in 0..<1000 {
            if i % 10 == 0 { f.clock.advance(1) }
            assertRefused(f.authenticate(f.token(kid: UUID().uuidString)), "no key with this kid in the issuer's JWKS")
        }
        XCTAssertLessThanOrEqual(f.server.requestCount, 1 + 4)
        XCTAssertEqual(f.auth.jwksFetchCount, f.server.requestCount)
        // The real key kept working throughout.
        assertAccepted(f.authenticate(f.token()), "auth0|5f7c8ec7c33c6c004bbafe82")
    }

    func testConcurrentUnknownKidsShareOneFetch() throws {
        let f = try Fixture(jwks: aOnly)
        f.server.serve(aAndB)
        f.server.setDelay(0.3)
        f.clock.advance(31)
        let rotated = f.token(key: TestKeys.b, kid: "key-b")
        let random = (0..<200).map { f.token(kid: "random-\($0)") }
        let auth = f.auth
        let accepted = EventCounter()
        DispatchQueue.concurrentPerform(iterations: 400) { i in
            let token = i % 2 == 0 ? rotated : random[i / 2]
            let request = Request(method: "GET", target: "/api/v1/x", headers: Headers([("Authorization", "Bearer " + token)]))
            if (try? auth.authenticate(request)) != nil { accepted.increment() }
        }
        XCTAssertEqual(f.server.requestCount, 2, "start-up + one refetch shared by every thread")
        // Threads that found the fetch running waited for it: every rotated token got in.
        XCTAssertEqual(accepted.value, 200)
    }

    func testKeysRefreshAfterTheTTLWithoutBlockingRequests() throws {
        let f = try Fixture(jwks: aOnly, extraEnvironment: ["JWKS_TTL_SECONDS": "600"])
        let tokenA = f.token(f.claims(exp: .int(f.now + 7200)))
        assertAccepted(f.authenticate(tokenA), "auth0|5f7c8ec7c33c6c004bbafe82")

        // The issuer withdraws key-a and publishes key-b.
        f.server.serve(bOnly)
        f.clock.advance(599)
        assertAccepted(f.authenticate(tokenA), "auth0|5f7c8ec7c33c6c004bbafe82")
        XCTAssertEqual(f.server.requestCount, 1)

        f.clock.advance(1)
        // Due: this request is served with the keys at hand; the refresh runs beside it.
        f.server.setDelay(0.5)
        let started = Date()
        assertAccepted(f.authenticate(tokenA), "auth0|5f7c8ec7c33c6c004bbafe82")
        XCTAssertLessThan(Date().timeIntervalSince(started), 0.4)
        f.auth.jwks.waitForPendingFetch()
        XCTAssertEqual(f.server.requestCount, 2)
        XCTAssertEqual(f.auth.jwks.keyIDs, ["key-b"])

        // A token verified with a withdrawn key is not trusted from the cache any more.
        let before = f.auth.verificationCount
        assertRefused(f.authenticate(tokenA), "no key with this kid in the issuer's JWKS")
        XCTAssertEqual(f.auth.verificationCount, before)
        assertAccepted(f.authenticate(f.token(key: TestKeys.b, kid: "key-b")), "auth0|5f7c8ec7c33c6c004bbafe82")
    }

    func testWhenTheIssuerIsDownCachedKeysKeepWorkingAndReadinessSaysStale() throws {
        let f = try Fixture(jwks: aOnly)
        let token = f.token(f.claims(exp: .int(f.now + 7200)))
        f.server.behave(.fail(status: 503))
        f.clock.advance(601)
        assertAccepted(f.authenticate(token), "auth0|5f7c8ec7c33c6c004bbafe82")
        f.auth.jwks.waitForPendingFetch()
        XCTAssertEqual(f.server.requestCount, 2)

        assertAccepted(f.authenticate(token), "auth0|5f7c8ec7c33c6c004bbafe82")
        assertAccepted(f.authenticate(f.token(f.claims(sub: .string("google-oauth2|1034")))), "google-oauth2|1034")
        XCTAssertNil(f.auth.readinessProblem(), "stale keys still serve: the service stays ready")
        let warning = try XCTUnwrap(f.auth.readinessWarning())
        XCTAssertTrue(warning.hasPrefix("JWKS is stale"), warning)
        XCTAssertTrue(warning.contains("answered 503"), warning)

        // Retried at most every 30 s, and the warning clears once the issuer is back.
        _ = f.auth.readinessProblem()
        f.auth.jwks.waitForPendingFetch()
        XCTAssertEqual(f.server.requestCount, 2)
        f.server.serve(aOnly)
        f.clock.advance(30)
        _ = f.auth.readinessProblem()
        f.auth.jwks.waitForPendingFetch()
        XCTAssertEqual(f.server.requestCount, 3)
        XCTAssertNil(f.auth.readinessWarning())
    }

    func testNoKeyEverLoadedIs503WithRetryAfterUntilTheIssuerAnswers() throws {
        let f = try Fixture(jwks: aOnly) { $0.behave(.fail(status: 500)) }
        let problem = try XCTUnwrap(f.auth.readinessProblem())
        XCTAssertTrue(problem.hasPrefix("no JWKS key could ever be loaded from http://127.0.0.1:"), problem)

        guard case .failure(let e) = f.authenticate(f.token()) else { return XCTFail("accepted without keys") }
        XCTAssertEqual(e.status, .serviceUnavailable)
        XCTAssertEqual(e.headers["Retry-After"], "30")
        XCTAssertNil(e.headers["WWW-Authenticate"])
        f.clock.advance(10)
        guard case .failure(let e2) = f.authenticate(f.token()) else { return XCTFail("accepted without keys") }
        XCTAssertEqual(e2.headers["Retry-After"], "20")
        // Tokens that are bad anyway are still 401.
        assertRefused(f.authenticate("x.y"), "token must have three dot-separated parts")
        XCTAssertEqual(f.server.requestCount, 1)

        f.server.serve(aOnly)
        f.clock.advance(20)
        assertAccepted(f.authenticate(f.token()), "auth0|5f7c8ec7c33c6c004bbafe82")
        XCTAssertNil(f.auth.readinessProblem())
        XCTAssertEqual(f.server.requestCount, 2)
    }

    func testReadinessRetriesTheLoadWithoutTraffic() throws {
        let f = try Fixture(jwks: aOnly) { $0.behave(.fail(status: 500)) }
        XCTAssertNotNil(f.auth.readinessProblem())
        f.server.serve(aOnly)
        f.clock.advance(30)
        XCTAssertNotNil(f.auth.readinessProblem(), "answers at once; the load runs in the background")
        f.auth.jwks.waitForPendingFetch()
        XCTAssertNil(f.auth.readinessProblem())
    }

    func testAHangingIssuerIsCutOffByTheTimeout() throws {
        let started = Date()
        let f = try Fixture(extraEnvironment: ["JWKS_TIMEOUT_SECONDS": "1"]) { $0.behave(.hang) }
        XCTAssertLessThan(Date().timeIntervalSince(started), 3)
        let problem = try XCTUnwrap(f.auth.readinessProblem())
        XCTAssertTrue(problem.contains("failed"), problem)
    }

    func testAnUnreachableIssuer() throws {
        let f = try Fixture { $0.stop() }
        XCTAssertNotNil(f.auth.readinessProblem())
        guard case .failure(let e) = f.authenticate(f.token()) else { return XCTFail("accepted without keys") }
        XCTAssertEqual(e.status, .serviceUnavailable)
    }

    func testAJWKSWithoutUsableKeysDoesNotReplaceGoodOnes() throws {
        let f = try Fixture(jwks: aOnly)
        f.server.serve("{\"keys\":[{\"kty\":\"EC\",\"kid\":\"ec\",\"crv\":\"P-256\",\"x\":\"AA\",\"y\":\"AA\"}]}")
        f.clock.advance(31)
        assertRefused(f.authenticate(f.token(kid: "ec")), "no key with this kid in the issuer's JWKS")
        XCTAssertEqual(f.server.requestCount, 2)
        XCTAssertEqual(f.auth.jwks.keyIDs, ["key-a"])
        XCTAssertTrue(f.auth.readinessWarning()?.contains("no RSA signing key") == true)
        assertAccepted(f.authenticate(f.token()), "auth0|5f7c8ec7c33c6c004bbafe82")
    }
}
