import Curl
import Foundation
import Storage
import Synchronization
import TestSupport
import XCTest
@testable import S3

/// The circuit breaker, the retry and budget policy, and what counts as transient.
final class CircuitBreakerTests: XCTestCase {
    final class Clock: Sendable {
        let now = Mutex(1000.0)
        func advance(_ s: Double) { now.withLock { $0 += s } }
    }

    func testItOpensAfterNConsecutiveFailuresAndAnySuccessResetsTheCount() {
        let clock = Clock()
        let breaker = CircuitBreaker(threshold: 3, coolDown: 10, clock: { clock.now.withLock { $0 } })
        breaker.record(success: false)
        breaker.record(success: false)
        breaker.record(success: true)
        breaker.record(success: false)
        breaker.record(success: false)
        XCTAssertEqual(breaker.admit(), .allowed, "not three in a row")
        breaker.record(success: false)
        XCTAssertTrue(breaker.isOpen)
        XCTAssertEqual(breaker.admit(), .rejected(retryAfter: 10))
        clock.advance(9.5)
        XCTAssertEqual(breaker.admit(), .rejected(retryAfter: 1))
    }

    func testAfterTheCoolDownOneProbeDecides() {
        let clock = Clock()
        let breaker = CircuitBreaker(threshold: 1, coolDown: 5, clock: { clock.now.withLock { $0 } })
        breaker.record(success: false)
        clock.advance(5)
        XCTAssertEqual(breaker.admit(), .probe)
        XCTAssertEqual(breaker.admit(), .rejected(retryAfter: 1), "one probe at a time")
        breaker.record(success: false, probe: true)
        XCTAssertEqual(breaker.admit(), .rejected(retryAfter: 5), "a failed probe opens it for another cool-down")
        clock.advance(5)
        XCTAssertEqual(breaker.admit(), .probe)
        breaker.abandonProbe()
        XCTAssertEqual(breaker.admit(), .probe, "an abandoned probe lets another request probe")
        breaker.record(success: true, probe: true)
        XCTAssertFalse(breaker.isOpen)
        XCTAssertEqual(breaker.admit(), .allowed)
    }

    func testAThresholdOfZeroNeverOpens() {
        let breaker = CircuitBreaker(threshold: 0, coolDown: 5)
        for _ in 0..<100 { breaker.record(success: false) }
        XCTAssertEqual(breaker.admit(), .allowed)
    }
}

final class RetryPolicyTests: XCTestCase {
    func testFullJitterStaysUnderTheExponentialCeiling() {
        let policy = RetryPolicy(maxAttempts: 10, baseDelay: 0.2, maxDelay: 1)
        XCTAssertEqual(policy.delay(after: 1, random: { $0.upperBound }), 0.2)
        XCTAssertEqual(policy.delay(after: 2, random: { $0.upperBound }), 0.4)
        XCTAssertEqual(policy.delay(after: 5, random: { $0.upperBound }), 1, "capped")
        XCTAssertEqual(policy.delay(after: 3, random: { $0.lowerBound }), 0, "full jitter starts at zero")
        for attempt in 1...8 { XCTAssertLessThanOrEqual(policy.delay(after: attempt), 1) }
    }

    func testRetriesStopWhenAttemptsOrTheBudgetRunOut() {
        let policy = RetryPolicy(maxAttempts: 3, baseDelay: 0.2, maxDelay: 2)
        XCTAssertNotNil(policy.wait(after: 2, retryAfter: nil, remaining: nil))
        XCTAssertNil(policy.wait(after: 3, retryAfter: nil, remaining: nil), "attempts used up")
        XCTAssertNil(policy.wait(after: 1, retryAfter: nil, remaining: 0.05), "no time left for another attempt")
        XCTAssertNil(policy.wait(after: 1, retryAfter: 1.5, remaining: 1), "the server's wait does not fit")
    }

    func testRetryAfterIsHonouredUpToTheLongestDelay() {
        let policy = RetryPolicy(maxAttempts: 3, baseDelay: 0.2, maxDelay: 2)
        XCTAssertEqual(policy.wait(after: 1, retryAfter: 1.5, remaining: 10), 1.5)
        XCTAssertEqual(policy.wait(after: 1, retryAfter: 60, remaining: 10), 2)
        XCTAssertEqual(Transience.retryAfter("3"), 3)
        XCTAssertNil(Transience.retryAfter("Wed, 21 Oct 2026 07:28:00 GMT"))
        XCTAssertNil(Transience.retryAfter("-1"))
    }

    func testWhatAWSCallsTransient() {
        for status in [500, 502, 503, 504, 429] { XCTAssertTrue(Transience.isTransient(status: status, code: nil), "\(status)") }
        XCTAssertTrue(Transience.isTransient(status: 503, code: "SlowDown"))
        XCTAssertTrue(Transience.isTransient(status: 400, code: "RequestTimeout"))
        XCTAssertTrue(Transience.isTransient(status: 200, code: "InternalError"), "an <Error> in a 200")
        for (status, code) in [(400, "InvalidArgument"), (400, nil), (404, "NoSuchKey"), (409, nil), (412, "PreconditionFailed"),
                               (501, "NotImplemented"), (403, "AccessDenied")] as [(Int, String?)] {
            XCTAssertFalse(Transience.isTransient(status: status, code: code), "\(status) \(code ?? "")")
        }
    }
}

/// The same, end to end through libcurl against a scripted server.
final class S3ResilienceTests: XCTestCase {
    nonisolated(unsafe) static var server: ScriptedServer!
    override class func setUp() { super.setUp(); server = try! ScriptedServer() }
    override class func tearDown() { server.stop(); server = nil; super.tearDown() }

    func store(attempts: Int = 3, breaker: Int = 0, coolDown: Double = 30) -> S3Store {
        var options = S3Options()
        options.retry = RetryPolicy(maxAttempts: attempts, baseDelay: 0.02, maxDelay: 0.1)
        options.connectTimeout = 1
        options.breakerThreshold = breaker
        options.breakerCoolDown = coolDown
        return S3Store(bucket: "b-resilience", region: "us-east-1", endpoint: Self.server.base,
                       credentials: StaticCredentialsProvider(accessKeyID: "AKID", secretAccessKey: "secret"), options: options)
    }

    func count(_ key: String) throws -> Int {
        let r = try CurlSession().perform(HTTPRequest(method: "GET", url: Self.server.base + "/count/b-resilience/" + key))
        return Int(String(decoding: r.body, as: UTF8.self)) ?? -1
    }

    func unique(_ path: String) -> String { "\(UUID().uuidString)/\(path)" }

    func testTransientAnswersAreRetriedAndOtherClientErrorsAreNot() throws {
        let s = store()
        for path in ["s3error/400/RequestTimeout/1", "s3error/429/TooManyRequests/2", "s3error/503/SlowDown/2"].map(unique) {
            XCTAssertEqual(try s.get(key: path).bytes, Array("ok".utf8), path)
            XCTAssertEqual(try count(path), Int(path.split(separator: "/").last!)! + 1, path)
        }
        let permanent = unique("s3error/400/InvalidArgument/5")
        XCTAssertThrowsError(try s.get(key: permanent))
        XCTAssertEqual(try count(permanent), 1)
    }

    func testAnErrorDocumentIn200IsRetriedWhereS3MaySendOne() throws {
        let s = store()
        let key = unique("s3error/200/InternalError/1")
        var r = s.request("CompleteMultipartUpload", "POST", key: key)
        r.errorIn200 = true
        let (response, attempts) = try s.client.send(r, session: CurlSession())
        XCTAssertEqual(response.status, 200)
        XCTAssertEqual(attempts, 2)
        XCTAssertEqual(String(decoding: response.body, as: UTF8.self), "ok")
    }

    func testFailuresAreStructured() throws {
        let s = store(attempts: 2)
        XCTAssertThrowsError(try s.get(key: unique("s3error/503/SlowDown/9"))) {
            guard case .unavailable(let failure) = $0 as? StorageError else { return XCTFail("\($0)") }
            XCTAssertEqual(failure.kind, .serverError)
            XCTAssertEqual(failure.operation, "GetObject")
            XCTAssertEqual(failure.status, 503)
            XCTAssertEqual(failure.code, "SlowDown")
            XCTAssertEqual(failure.requestID, "req-2")
        }
    }

    func testTheBudgetBoundsEveryAttemptAndTheRetries() throws {
        let s = store(attempts: 4)
        let key = unique("sleep/5")
        let started = Deadline.now()
        XCTAssertThrowsError(try Deadline.with(Deadline(secondsFromNow: 0.6)) { try s.get(key: key) }) {
            guard case .unavailable(let failure) = $0 as? StorageError else { return XCTFail("\($0)") }
            XCTAssertEqual(failure.kind, .deadline, failure.reason)
        }
        XCTAssertLessThan(Deadline.now() - started, 2.5, "a 0.6 s budget, not 4 attempts of 5 s")
    }

    func testTheBreakerStopsRetriesSkipsS3AndClosesAfterAProbe() throws {
        let s = store(attempts: 5, breaker: 2, coolDown: 0.5)
        let failing = unique("status/500")
        XCTAssertThrowsError(try s.get(key: failing))
        XCTAssertEqual(try count(failing), 2, "retries stop once the breaker opens")
        let other = unique("status/200")
        let started = Deadline.now()
        XCTAssertThrowsError(try s.get(key: other)) {
            guard case .unavailable(let failure) = $0 as? StorageError else { return XCTFail("\($0)") }
            XCTAssertEqual(failure.kind, .breakerOpen)
            XCTAssertNotNil(failure.retryAfter)
        }
        XCTAssertLessThan(Deadline.now() - started, 0.2, "answered at once")
        XCTAssertEqual(try count(other), 0, "S3 was not asked")
        let results = s.getMany(keys: [other])
        if case .failure(.unavailable(let failure)) = results[other] { XCTAssertEqual(failure.kind, .breakerOpen) } else { XCTFail("\(results)") }
        Thread.sleep(forTimeInterval: 0.6)
        XCTAssertEqual(try s.get(key: other).bytes, Array("ok".utf8), "the probe passes and closes the breaker")
        XCTAssertEqual(try s.get(key: other).bytes, Array("ok".utf8))
        XCTAssertEqual(try count(other), 2)
    }
}
