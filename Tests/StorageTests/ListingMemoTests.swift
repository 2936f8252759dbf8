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

    func store(settledSeconds: Int = 0) -> LocalStore {
        LocalStore(root: directory.path + "/root", smallFiles: SmallFileCache(settledSeconds: settledSeconds),
                   listings: ListingMemo(settledSeconds: settledSeconds))
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
}
