#if canImport(Glibc)
import Glibc
#endif
import Foundation
import XCTest
@testable import Storage

/// LocalStore answers a listing by file name again only while nothing under the
/// prefix changed, whoever changed it.
final class ListingMemoTests: XCTestCase {
    var directory: TestDirectory!

    override func setUp() { directory = TestDirectory() }
    override func tearDown() { directory = nil }

    let prefix = "user_recordings/u/"

    /// `fullCheckSeconds: 0`: every identity is checked on every listing (changes by
    /// anything are seen); `.infinity`: only the top directory is (recstore's writes are).
    func store(settledSeconds: Int = 0, fullCheckSeconds: Double = 0) -> LocalStore {
        LocalStore(root: directory.path + "/root", smallFiles: SmallFileCache(settledSeconds: settledSeconds),
                   listings: ListingMemo(settledSeconds: settledSeconds, fullCheckSeconds: fullCheckSeconds))
    }

    func save(_ store: LocalStore, _ session: String, _ text: String = "{}") throws {
        _ = try store.put(key: prefix + session + "/session_metadata.json", bytes: Array(text.utf8),
                          contentType: "application/json", condition: .none)
    }

    func keys(_ store: LocalStore) throws -> [String] {
        try store.list(prefix: prefix, fileName: "session_metadata.json").map(\.key)
    }

    /// Changes under the root made by "another process" (plain file calls), retried
    /// until the changed directory's ctime moved past `before` (coarse kernel clock).
    func changeUntilCtimeMoves(_ path: String, _ change: () -> Void) {
        var before = stat()
        _ = lstat(path, &before)
        for _ in 0..<2000 {
            change()
            var now = stat()
            if lstat(path, &now) != 0 || now.st_ctim.tv_sec != before.st_ctim.tv_sec || now.st_ctim.tv_nsec != before.st_ctim.tv_nsec { return }
            usleep(1000)
        }
        XCTFail("ctime never moved")
    }

    func testAnUnchangedListingIsAnsweredFromTheMemo() throws {
        let store = store()
        try save(store, "s1")
        try save(store, "s2")
        XCTAssertEqual(try keys(store), [prefix + "s1/session_metadata.json", prefix + "s2/session_metadata.json"])
        XCTAssertEqual(store.listings.count, 1)
        XCTAssertNotNil(store.listings.answer(prefix + "\u{0}session_metadata.json"))
        XCTAssertEqual(try keys(store).count, 2)
    }

    func testANewSessionFromAnotherProcessIsListed() throws {
        let mine = store(), theirs = store()
        try save(mine, "s1")
        XCTAssertEqual(try keys(mine).count, 1)
        XCTAssertEqual(mine.listings.count, 1)
        try save(theirs, "s2")
        XCTAssertEqual(try keys(mine), [prefix + "s1/session_metadata.json", prefix + "s2/session_metadata.json"])
    }

    func testMetadataArrivingInAnExistingSessionDirectoryIsListed() throws {
        let store = store()
        try save(store, "s1")
        let session2 = store.root + "/" + prefix + "s2"
        XCTAssertEqual(mkdir(session2, 0o750), 0)
        XCTAssertEqual(try keys(store).count, 1)
        XCTAssertEqual(store.listings.count, 1)
        changeUntilCtimeMoves(session2) {
            FileManager.default.createFile(atPath: session2 + "/session_metadata.json", contents: Data("{}".utf8))
        }
        XCTAssertEqual(try keys(store), [prefix + "s1/session_metadata.json", prefix + "s2/session_metadata.json"])
    }

    func testARemovedSessionAndAnInPlaceRewriteAreSeen() throws {
        let store = store()
        try save(store, "s1")
        try save(store, "s2")
        XCTAssertEqual(try keys(store).count, 2)
        let file = store.root + "/" + prefix + "s1/session_metadata.json"
        let before = try store.list(prefix: prefix, fileName: "session_metadata.json")[0]
        changeUntilCtimeMoves(file) {
            let fd = open(file, O_WRONLY | O_APPEND)
            _ = write(fd, " ", 1)
            close(fd)
        }
        let after = try store.list(prefix: prefix, fileName: "session_metadata.json")[0]
        XCTAssertNotEqual(after.etag, before.etag)
        XCTAssertGreaterThan(after.size, before.size)
        try FileManager.default.removeItem(atPath: store.root + "/" + prefix + "s2")
        XCTAssertEqual(try keys(store), [prefix + "s1/session_metadata.json"])
    }

    func testAUserWithoutRecordingsGetsTheFirstOne() throws {
        let mine = store(), theirs = store()
        XCTAssertEqual(try keys(mine), [])
        try save(theirs, "s1")
        XCTAssertEqual(try keys(mine), [prefix + "s1/session_metadata.json"])
    }

    func testOwnWritesDropTheMemoAndUnsettledListingsAreNotKept() throws {
        let fresh = store(settledSeconds: 3600)
        try save(fresh, "s1")
        XCTAssertEqual(try keys(fresh).count, 1)
        XCTAssertEqual(fresh.listings.count, 0)
        let store = store()
        try save(store, "s1")
        XCTAssertEqual(try keys(store).count, 1)
        XCTAssertEqual(store.listings.count, 1)
        try save(store, "s2")
        XCTAssertEqual(store.listings.count, 0)
        XCTAssertEqual(try keys(store).count, 2)
        XCTAssertEqual(try store.delete(prefix: prefix + "s1/"), 1)
        XCTAssertEqual(try keys(store), [prefix + "s2/session_metadata.json"])
    }

    // MARK: Validation by the top directory alone

    var userDirectory: String { directory.path + "/root/" + prefix.dropLast() }

    /// Waits until the kernel's coarse clock, which stamps ctimes, has moved past the
    /// user directory's ctime: a change made after that cannot carry the same stamp
    /// (in production the settled rule guarantees it; here settledSeconds is 0).
    func awaitNextTick() {
        var top = stat()
        XCTAssertEqual(lstat(userDirectory, &top), 0)
        let probe = directory.path + "/tick"
        for _ in 0..<2000 {
            let fd = open(probe, O_CREAT | O_WRONLY, 0o600)
            _ = write(fd, "x", 1)
            close(fd)
            var st = stat()
            _ = lstat(probe, &st)
            if (st.st_ctim.tv_sec, st.st_ctim.tv_nsec) > (top.st_ctim.tv_sec, top.st_ctim.tv_nsec) { return }
            usleep(500)
        }
        XCTFail("the clock never moved")
    }

    func metadataKey(_ session: String) -> String { prefix + session + "/session_metadata.json" }

    /// Each way a LocalStore (in any process) changes what a listing shows moves the
    /// user directory, so a memo that checks nothing else sees it at once.
    func testEveryWriteAndDeleteByAnotherStoreIsSeenThroughTheTopDirectory() throws {
        let mine = store(fullCheckSeconds: .infinity), theirs = store()
        try save(theirs, "s1")
        // A session directory that exists before its metadata does (audio first).
        _ = try theirs.put(key: prefix + "s2/audio.wav", bytes: [1, 2], contentType: "audio/wav", condition: .createOnly)

        func expect(_ sessions: [String], after change: () throws -> Void, line: UInt = #line) throws {
            XCTAssertEqual(mine.listings.count, 1, "memoized before the change", line: line)
            awaitNextTick()
            try change()
            XCTAssertEqual(try keys(mine), sessions.map(metadataKey), line: line)
        }
        XCTAssertEqual(try keys(mine), [metadataKey("s1")])
        try expect(["s1", "s2"]) {
            _ = try theirs.put(key: metadataKey("s2"), bytes: Array("{}".utf8), contentType: "application/json",
                               condition: .createOnly)
        }
        try expect(["s1", "s2"]) {
            _ = try theirs.put(key: metadataKey("s2"), bytes: Array("{\"a\":1}".utf8), contentType: "application/json",
                               condition: .none)
        }
        XCTAssertEqual(try mine.list(prefix: prefix, fileName: "session_metadata.json")[1].size, 7)
        let etag = try XCTUnwrap(theirs.head(key: metadataKey("s2"))).etag
        try expect(["s1", "s2"]) {
            _ = try theirs.put(key: metadataKey("s2"), bytes: Array("{\"a\":22}".utf8), contentType: "application/json",
                               condition: .ifMatch(etag))
        }
        XCTAssertEqual(try mine.list(prefix: prefix, fileName: "session_metadata.json")[1].size, 8)
        let staged = directory.path + "/root/.tmp-staged"
        FileManager.default.createFile(atPath: staged, contents: Data("{\"b\":333}".utf8))
        try expect(["s1", "s2"]) {
            _ = try theirs.put(key: metadataKey("s2"), file: StagedFile(path: staged, size: 9, sha256: ""),
                               contentType: "application/json", condition: .none)
        }
        XCTAssertEqual(try mine.list(prefix: prefix, fileName: "session_metadata.json")[1].size, 9)
        // The metadata alone (a recording's commit marker is deleted first), then a whole session.
        try expect(["s1"]) { XCTAssertEqual(try theirs.delete(prefix: metadataKey("s2")), 1) }
        try expect([]) { XCTAssertEqual(try theirs.delete(prefix: prefix + "s1/"), 1) }
    }

    /// The limit, documented: a metadata file placed inside an existing session
    /// directory by something other than recstore shows only at the next full check.
    func testAForeignChangeInsideASessionShowsAtTheNextFullCheck() throws {
        let slow = store(fullCheckSeconds: .infinity), prompt = store(fullCheckSeconds: 0.2)
        try save(slow, "s1")
        let session2 = directory.path + "/root/" + prefix + "s2"
        XCTAssertEqual(mkdir(session2, 0o750), 0)
        XCTAssertEqual(try keys(slow).count, 1)
        XCTAssertEqual(try keys(prompt).count, 1)
        changeUntilCtimeMoves(session2) {
            FileManager.default.createFile(atPath: session2 + "/session_metadata.json", contents: Data("{}".utf8))
        }
        XCTAssertEqual(try keys(slow).count, 1, "only the top directory is checked")
        let deadline = Date().addingTimeInterval(10)
        while try keys(prompt).count == 1, Date() < deadline { usleep(20_000) }
        XCTAssertEqual(try keys(prompt), [metadataKey("s1"), metadataKey("s2")])
    }

    /// Writes move every directory above the changed one, up to the root.
    func testAWriteTouchesEveryDirectoryAboveItsOwn() throws {
        let store = store()
        try save(store, "s1")
        let root = directory.path + "/root"
        let above = [root + "/" + prefix.dropLast(), root + "/user_recordings", root]
        XCTAssertEqual(store.ancestors(above: root + "/" + prefix + "s1"), above)
        var before: [stat] = []
        for path in above {
            var st = stat()
            XCTAssertEqual(lstat(path, &st), 0)
            before.append(st)
        }
        awaitNextTick()
        _ = try store.put(key: prefix + "s1/transcript.txt", bytes: [65], contentType: "text/plain", condition: .none)
        for (path, old) in zip(above, before) {
            var st = stat()
            XCTAssertEqual(lstat(path, &st), 0)
            XCTAssertNotEqual(SmallFileCache.Identity(st), SmallFileCache.Identity(old), path)
        }
    }
}
