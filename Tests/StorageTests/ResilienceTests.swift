import Foundation
import Synchronization
import XCTest
@testable import Storage

/// Budgets, the per-host save lock, leftovers of saves that died, ambiguous commits.
final class ResilienceTests: XCTestCase {
    var directory: TestDirectory!
    var local: LocalStore!

    override func setUp() {
        directory = TestDirectory()
        local = LocalStore(root: directory.path + "/local")
    }

    override func tearDown() {
        local = nil
        directory = nil
    }

    func recording(_ session: String, audio: String) -> (StoreKind) -> [NewObject] {
        { _ in [
            NewObject(key: "user_recordings/u/\(session)/audio.wav", content: .bytes(Array(audio.utf8)), contentType: "audio/wav"),
            NewObject(key: "user_recordings/u/\(session)/transcript.txt", content: .bytes([]), contentType: "text/plain"),
            NewObject(key: "user_recordings/u/\(session)/session_metadata.json",
                      content: .bytes(Array("{\"audio\":\"\(audio)\"}".utf8)), contentType: "application/json"),
        ] }
    }

    // MARK: Deadline

    func testANestedDeadlineNeverExtendsTheBudget() {
        XCTAssertNil(Deadline.current)
        Deadline.with(Deadline(secondsFromNow: 1)) {
            let outer = Deadline.current!
            Deadline.with(Deadline(secondsFromNow: 100)) { XCTAssertEqual(Deadline.current, outer) }
            Deadline.with(Deadline(secondsFromNow: 0.5)) { XCTAssertLessThan(Deadline.current!.at, outer.at) }
            Deadline.replacing(Deadline(secondsFromNow: 100)) { XCTAssertGreaterThan(Deadline.current!.at, outer.at) }
            XCTAssertEqual(Deadline.current, outer)
            XCTAssertGreaterThan(outer.remaining, 0)
        }
        XCTAssertNil(Deadline.current)
        XCTAssertTrue(Deadline(secondsFromNow: -1).passed)
    }

    // MARK: HostLock

    func testAHostLockIsHeldByOneHolderAndFreedWithIt() {
        let name = "test|" + UUID().uuidString
        var first: HostLock? = HostLock(name: name)
        XCTAssertNotNil(first)
        XCTAssertNil(HostLock(name: name), "held")
        XCTAssertNotNil(HostLock(name: name + "x"), "another name is another lock")
        let started = Deadline.now()
        XCTAssertNil(HostLock.acquire(name: name, until: Deadline(secondsFromNow: 0.2)))
        XCTAssertGreaterThanOrEqual(Deadline.now() - started, 0.19, "waited for the deadline")
        first = nil
        XCTAssertNotNil(HostLock(name: name), "freed when its holder goes")
        _ = first
    }

    // MARK: Two saves of one session on a check-then-put store

    /// The weaker guarantee stores with check-then-put conditional writes give: on
    /// one host exactly one of two concurrent saves of a session wins and the
    /// stored recording is the winner's. The store parks the first save between its
    /// check and its put for as long as it takes the second to get there too (at
    /// most a second): without the per-host lock both would pass the check.
    func testConcurrentSavesOnOneHostTakeTurnsEvenWhenTheStoresChecksAreNotAtomic() throws {
        let store = NonAtomicStore(LocalStore(root: directory.path + "/remote"))
        let inside = DispatchSemaphore(value: 0)
        let parked = Mutex<Int>(0)
        store.betweenCheckAndPut = { _ in
            let n = parked.withLock { $0 += 1; return $0 }
            if n == 1 { _ = inside.wait(timeout: .now() + 1) } else { inside.signal() }
        }
        // Two services on one host and one store: two worker processes.
        let a = StorageService(active: store, lockScope: "scope-\(UUID().uuidString)")
        let b = StorageService(active: store, lockScope: a.lockScope)
        let results = Mutex<[String: Result<StoreKind, Error>]>([:])
        let group = DispatchGroup()
        for (name, service) in [("a", a), ("b", b)] {
            group.enter()
            let build = recording("race", audio: name)
            nonisolated(unsafe) let unsafeBuild = build
            Thread.detachNewThread {
                let r = Result { try service.create(prefix: "user_recordings/u/race/", commitName: "session_metadata.json",
                                                    unsafeBuild) }
                results.withLock { $0[name] = r }
                group.leave()
            }
        }
        XCTAssertEqual(group.wait(timeout: .now() + 30), .success)
        let outcomes = results.withLock { $0 }
        let winners = outcomes.filter { if case .success = $0.value { true } else { false } }.map(\.key)
        XCTAssertEqual(winners.count, 1, "\(outcomes)")
        for (name, result) in outcomes where name != winners.first {
            XCTAssertThrowsError(try result.get()) { XCTAssertEqual($0 as? StorageError, .alreadyExists("user_recordings/u/race/")) }
        }
        XCTAssertEqual(parked.withLock { $0 }, 1, "only one save got past the check")
        XCTAssertEqual(try store.get(key: "user_recordings/u/race/audio.wav").bytes, Array(winners[0].utf8))
        XCTAssertEqual(try store.get(key: "user_recordings/u/race/session_metadata.json").bytes,
                       Array("{\"audio\":\"\(winners[0])\"}".utf8))
    }

    // MARK: Leftovers of a save that died

    func backdate(_ key: String, seconds: Double) {
        let path = local.root + "/" + key
        var times = [timespec(tv_sec: Int(Date().timeIntervalSince1970 - seconds), tv_nsec: 0),
                     timespec(tv_sec: Int(Date().timeIntervalSince1970 - seconds), tv_nsec: 0)]
        XCTAssertEqual(utimensat(AT_FDCWD, path, &times, 0), 0)
    }

    func testOldLeftoversWithoutMetadataAreReplacedYoungOnesAreNot() throws {
        let service = StorageService(active: local, lockScope: UUID().uuidString, orphanAge: 300)
        _ = try local.put(key: "user_recordings/u/s1/audio.wav", bytes: Array("dead".utf8), contentType: "x", condition: .createOnly)
        XCTAssertThrowsError(try service.create(prefix: "user_recordings/u/s1/", commitName: "session_metadata.json",
                                                recording("s1", audio: "new"))) {
            XCTAssertEqual($0 as? StorageError, .alreadyExists("user_recordings/u/s1/"), "young: a save may be in progress")
        }
        backdate("user_recordings/u/s1/audio.wav", seconds: 301)
        XCTAssertEqual(try service.create(prefix: "user_recordings/u/s1/", commitName: "session_metadata.json",
                                          recording("s1", audio: "new")), .local)
        XCTAssertEqual(try local.get(key: "user_recordings/u/s1/audio.wav").bytes, Array("new".utf8))
        // A committed recording is never replaced, however old.
        for key in try local.list(prefix: "user_recordings/u/s1/").map(\.key) { backdate(key, seconds: 10_000) }
        XCTAssertThrowsError(try service.create(prefix: "user_recordings/u/s1/", commitName: "session_metadata.json",
                                                recording("s1", audio: "newer")))
        XCTAssertEqual(try local.get(key: "user_recordings/u/s1/audio.wav").bytes, Array("new".utf8))
    }

    func testTheSweepRemovesOldUncommittedGroupsAndStaleTemporaryFilesOnly() throws {
        let service = StorageService(active: local, lockScope: UUID().uuidString, orphanAge: 300)
        try service.create(prefix: "user_recordings/u/kept/", commitName: "session_metadata.json", recording("kept", audio: "a"))
        _ = try local.put(key: "user_recordings/u/dead/audio.wav", bytes: [1], contentType: "x", condition: .createOnly)
        _ = try local.put(key: "user_recordings/u/dead/transcript.txt", bytes: [], contentType: "x", condition: .createOnly)
        _ = try local.put(key: "user_recordings/u/young/audio.wav", bytes: [1], contentType: "x", condition: .createOnly)
        for key in try local.list(prefix: "user_recordings/").map(\.key) where !key.contains("/young/") { backdate(key, seconds: 400) }
        let staleTemp = directory.write("local/user_recordings/u/kept/.~tmp.0123abcd", "x")
        let freshTemp = directory.write("local/user_recordings/u/kept/.~tmp.4567ef01", "x")
        var times = [timespec(tv_sec: Int(Date().timeIntervalSince1970 - 400), tv_nsec: 0),
                     timespec(tv_sec: Int(Date().timeIntervalSince1970 - 400), tv_nsec: 0)]
        XCTAssertEqual(utimensat(AT_FDCWD, staleTemp, &times, 0), 0)

        let summary = LeftoverSweep(storage: service, prefix: "user_recordings/", commitName: "session_metadata.json").run()
        XCTAssertEqual(summary.groups, 1)
        XCTAssertEqual(summary.objects, 2)
        XCTAssertEqual(summary.storeLeftovers, 1)
        XCTAssertEqual(try local.list(prefix: "user_recordings/").map(\.key), [
            "user_recordings/u/kept/audio.wav", "user_recordings/u/kept/session_metadata.json",
            "user_recordings/u/kept/transcript.txt", "user_recordings/u/young/audio.wav",
        ])
        XCTAssertFalse(FileManager.default.fileExists(atPath: staleTemp))
        XCTAssertTrue(FileManager.default.fileExists(atPath: freshTemp))
    }

    // MARK: A commit whose outcome is unknown

    func testACommitThatLandedDespiteAnErrorIsASuccess() throws {
        let remote = FlakyStore(LocalStore(root: directory.path + "/remote"))
        remote.failAfterPut = "session_metadata.json"
        let service = StorageService(active: remote, others: [local], fallback: local, lockScope: UUID().uuidString)
        XCTAssertEqual(try service.create(prefix: "user_recordings/u/s1/", commitName: "session_metadata.json",
                                          recording("s1", audio: "a")), .s3, "read back: it landed")
        XCTAssertEqual(try remote.inner.list(prefix: "user_recordings/").count, 3)
        XCTAssertEqual(try local.list(prefix: "user_recordings/").count, 0, "never also saved to the fallback")
    }

    func testACommitThatCannotBeReadBackIsLeftInPlaceAndNotFallenBackFrom() throws {
        let remote = FlakyStore(LocalStore(root: directory.path + "/remote"))
        remote.failAfterPut = "session_metadata.json"
        remote.readsDown = true
        let service = StorageService(active: remote, others: [local], fallback: local, lockScope: UUID().uuidString)
        XCTAssertThrowsError(try service.create(prefix: "user_recordings/u/s1/", commitName: "session_metadata.json",
                                                recording("s1", audio: "a"))) {
            guard case .unavailable(let failure) = $0 as? StorageError else { return XCTFail("\($0)") }
            XCTAssertEqual(failure.kind, .ambiguousCommit)
        }
        XCTAssertEqual(try remote.inner.list(prefix: "user_recordings/").count, 3, "it may be a stored recording: untouched")
        XCTAssertEqual(try local.list(prefix: "user_recordings/").count, 0)
    }
}
