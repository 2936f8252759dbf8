import Foundation
import Synchronization
import XCTest
@testable import S3

/// Caching and refreshing temporary credentials, against a container endpoint
/// whose answers the test scripts, with a clock the test moves.
final class CredentialsRefreshTests: XCTestCase {
    /// What the endpoint answers next: a new key each time, expiring `lifetime`
    /// after the test clock's now.
    final class Script: Sendable {
        struct State { var served = 0; var lifetime: TimeInterval = 3600; var status = 200; var delay: TimeInterval = 0 }
        let state = Mutex(State())
        let clock: TestClock
        init(clock: TestClock) { self.clock = clock }

        func answer(_ request: RecordedRequest) -> CannedResponse {
            let s = state.withLock { $0.served += 1; return $0 }
            guard s.status == 200 else { return CannedResponse(s.status, "unavailable", delay: s.delay) }
            return CannedResponse(200, credentialsJSON(key: "KEY\(s.served)", expiration: clock.now.addingTimeInterval(s.lifetime)),
                                  delay: s.delay)
        }
    }

    private var clock: TestClock!
    private var script: Script!
    private var server: CredentialsTestServer!
    private var provider: RefreshingCredentialsProvider!

    override func setUpWithError() throws {
        clock = TestClock(Date(timeIntervalSince1970: 1_900_000_000))
        script = Script(clock: clock)
        let script = script!
        server = try CredentialsTestServer { script.answer($0) }
        let clock = clock!
        provider = RefreshingCredentialsProvider(ContainerCredentialsProvider(url: server.url + "/creds", token: .none),
                                                 refreshBefore: 300, retryInterval: 10, now: { clock.now })
    }

    override func tearDown() {
        server.stop()
    }

    func testCachedUntilFiveMinutesBeforeExpiry() throws {
        XCTAssertEqual(try provider.credentials().accessKeyID, "KEY1")
        clock.advance(3600 - 301)
        XCTAssertEqual(try provider.credentials().accessKeyID, "KEY1")
        XCTAssertEqual(server.requests.count, 1)
        clock.advance(2)
        XCTAssertEqual(try provider.credentials().accessKeyID, "KEY2")
        XCTAssertEqual(try provider.credentials().accessKeyID, "KEY2")
        XCTAssertEqual(server.requests.count, 2)
    }

    /// Credentials that live less than the refresh margin are refreshed half way,
    /// not on every call.
    func testShortLivedCredentialsRefreshHalfWay() throws {
        script.state.withLock { $0.lifetime = 240 }
        XCTAssertEqual(try provider.credentials().accessKeyID, "KEY1")
        clock.advance(119)
        XCTAssertEqual(try provider.credentials().accessKeyID, "KEY1")
        clock.advance(2)
        XCTAssertEqual(try provider.credentials().accessKeyID, "KEY2")
        XCTAssertEqual(server.requests.count, 2)
    }

    /// A failed refresh while the current credentials still hold: keep using them,
    /// ask again only after the retry interval, and fail once they have expired.
    func testFailedRefreshKeepsCurrentCredentialsUntilExpiry() throws {
        XCTAssertEqual(try provider.credentials().accessKeyID, "KEY1")
        script.state.withLock { $0.status = 503 }
        clock.advance(3600 - 200)
        XCTAssertEqual(try provider.credentials().accessKeyID, "KEY1")
        XCTAssertEqual(server.requests.count, 2)
        clock.advance(5)
        XCTAssertEqual(try provider.credentials().accessKeyID, "KEY1")
        XCTAssertEqual(server.requests.count, 2, "no new attempt within the retry interval")
        clock.advance(6)
        XCTAssertEqual(try provider.credentials().accessKeyID, "KEY1")
        XCTAssertEqual(server.requests.count, 3)
        clock.advance(200)
        XCTAssertThrowsError(try provider.credentials()) { error in
            XCTAssertTrue("\(error)".hasSuffix("answered HTTP 503: unavailable"), "\(error)")
        }
        script.state.withLock { $0.status = 200 }
        XCTAssertEqual(try provider.credentials().accessKeyID, "KEY5")
    }

    func testAlreadyExpiredCredentialsAreRefused() throws {
        script.state.withLock { $0.lifetime = -60 }
        XCTAssertThrowsError(try provider.credentials()) { error in
            XCTAssertTrue("\(error)".contains("had already expired"), "\(error)")
        }
    }

    /// Many threads, no credentials yet: one request, everyone gets its answer.
    func testConcurrentFirstUseMakesOneRequest() throws {
        script.state.withLock { $0.delay = 0.3 }
        let keys = callConcurrently(8)
        XCTAssertEqual(keys, Array(repeating: "KEY1", count: 8))
        XCTAssertEqual(server.requests.count, 1)
    }

    /// Many threads, the one fetch fails: they share its error instead of each
    /// asking the endpoint again.
    func testConcurrentFailureIsShared() throws {
        script.state.withLock { $0.delay = 0.3; $0.status = 500 }
        let keys = callConcurrently(6)
        XCTAssertEqual(keys, Array(repeating: "error", count: 6))
        XCTAssertEqual(server.requests.count, 1)
    }

    /// Due for refresh but still valid: one thread refreshes, the others do not
    /// wait for it.
    func testOthersKeepServingDuringARefresh() throws {
        XCTAssertEqual(try provider.credentials().accessKeyID, "KEY1")
        clock.advance(3600 - 100)
        script.state.withLock { $0.delay = 0.5 }
        let refresher = Thread { [provider] in _ = try? provider!.credentials() }
        refresher.start()
        while server.requests.count < 2 { Thread.sleep(forTimeInterval: 0.01) }
        let start = Date()
        XCTAssertEqual(try provider.credentials().accessKeyID, "KEY1")
        XCTAssertLessThan(Date().timeIntervalSince(start), 0.25)
        Thread.sleep(forTimeInterval: 0.6)
        XCTAssertEqual(try provider.credentials().accessKeyID, "KEY2")
        XCTAssertEqual(server.requests.count, 2)
    }

    private func callConcurrently(_ count: Int) -> [String] {
        let results = Mutex<[String]>([])
        let group = DispatchGroup()
        let provider = provider!
        for _ in 0..<count {
            group.enter()
            Thread {
                let key = (try? provider.credentials().accessKeyID) ?? "error"
                results.withLock { $0.append(key) }
                group.leave()
            }.start()
        }
        group.wait()
        return results.withLock { $0 }
    }
}
