#if canImport(Glibc)
import Glibc
#endif
import Foundation
import XCTest
@testable import Storage

/// LocalStore's small-file cache: a hit needs the very same file (lstat), and no
/// write, by this process or another, is ever answered with the old bytes.
final class SmallFileCacheTests: XCTestCase {
    var directory: TestDirectory!

    override func setUp() { directory = TestDirectory() }
    override func tearDown() { directory = nil }

    let key = "user_settings/auth0|abc/settings.json"

    /// A store whose cache takes files at once (no settling time), as a test needs.
    func store(settledSeconds: Int = 0) -> LocalStore {
        LocalStore(root: directory.path + "/root", smallFiles: SmallFileCache(settledSeconds: settledSeconds))
    }

    func path(_ store: LocalStore) -> String { store.root + "/" + key }

    func ctime(_ path: String) -> timespec {
        var st = stat()
        XCTAssertEqual(lstat(path, &st), 0)
        return st.st_ctim
    }

    /// Rewrites the file in place (same inode, same size), as another program might,
    /// until its ctime differs from `before` (the kernel stamps with a coarse clock).
    func rewriteInPlace(_ path: String, _ text: String, ctimeNot before: timespec) {
        for _ in 0..<2000 {
            let fd = open(path, O_WRONLY)
            XCTAssertGreaterThanOrEqual(fd, 0)
            _ = Array(text.utf8).withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
            close(fd)
            let now = ctime(path)
            if now.tv_sec != before.tv_sec || now.tv_nsec != before.tv_nsec { return }
            usleep(1000)
        }
        XCTFail("ctime never moved")
    }

    func testAnUnchangedFileIsServedFromTheCache() throws {
        let store = store()
        _ = try store.put(key: key, bytes: Array("{\"a\":1}".utf8), contentType: "application/json", condition: .none)
        XCTAssertEqual(store.smallFiles.count, 0)
        let first = try store.get(key: key)
        XCTAssertEqual(store.smallFiles.count, 1)
        let second = try store.get(key: key)
        XCTAssertEqual(second.bytes, Array("{\"a\":1}".utf8))
        XCTAssertEqual(second.info, first.info)
        // The same buffer: no read happened.
        XCTAssertTrue(first.bytes.withUnsafeBufferPointer { a in second.bytes.withUnsafeBufferPointer { b in a.baseAddress == b.baseAddress } })
    }

    func testAnInPlaceRewriteByAnotherProgramIsReadAgain() throws {
        let store = store()
        _ = try store.put(key: key, bytes: Array("{\"a\":1}".utf8), contentType: "application/json", condition: .none)
        XCTAssertEqual(try store.get(key: key).bytes, Array("{\"a\":1}".utf8))
        XCTAssertEqual(store.smallFiles.count, 1)
        rewriteInPlace(path(store), "{\"a\":2}", ctimeNot: ctime(path(store)))
        XCTAssertEqual(try store.get(key: key).bytes, Array("{\"a\":2}".utf8))
    }

    func testAReplacementByAnotherStoreIsReadAgain() throws {
        let mine = store(), theirs = store()
        _ = try mine.put(key: key, bytes: Array("{\"v\":1}".utf8), contentType: "application/json", condition: .none)
        _ = try mine.get(key: key)
        _ = try theirs.put(key: key, bytes: Array("{\"v\":2}".utf8), contentType: "application/json", condition: .none)
        XCTAssertEqual(try mine.get(key: key).bytes, Array("{\"v\":2}".utf8))
        try? FileManager.default.removeItem(atPath: path(mine))
        XCTAssertThrowsError(try mine.get(key: key)) { XCTAssertEqual($0 as? StorageError, .notFound(key)) }
    }

    func testThisProcesssWritesAndDeletesDropTheCopy() throws {
        let store = store()
        _ = try store.put(key: key, bytes: Array("{\"v\":1}".utf8), contentType: "application/json", condition: .none)
        _ = try store.get(key: key)
        XCTAssertEqual(store.smallFiles.count, 1)
        _ = try store.put(key: key, bytes: Array("{\"v\":2}".utf8), contentType: "application/json", condition: .none)
        XCTAssertEqual(store.smallFiles.count, 0)
        XCTAssertEqual(try store.get(key: key).bytes, Array("{\"v\":2}".utf8))
        XCTAssertEqual(store.smallFiles.count, 1)
        XCTAssertEqual(try store.delete(prefix: "user_settings/auth0|abc/"), 1)
        XCTAssertEqual(store.smallFiles.count, 0)
        XCTAssertThrowsError(try store.get(key: key))
    }

    func testAFileStillBeingWrittenIsNotCached() throws {
        let store = store(settledSeconds: 3600)
        _ = try store.put(key: key, bytes: Array("{}".utf8), contentType: "application/json", condition: .none)
        XCTAssertEqual(try store.get(key: key).bytes, Array("{}".utf8))
        XCTAssertEqual(store.smallFiles.count, 0)
    }

    func testLargeFilesAndSymlinksAreNotCached() throws {
        let store = store()
        let big = [UInt8](repeating: 0x20, count: store.smallFiles.maxFileBytes + 1)
        _ = try store.put(key: key, bytes: big, contentType: "application/json", condition: .none)
        XCTAssertEqual(try store.get(key: key).bytes.count, big.count)
        XCTAssertEqual(store.smallFiles.count, 0)
        let other = "user_settings/auth0|abc/link.json"
        _ = try store.put(key: other, bytes: Array("{}".utf8), contentType: "application/json", condition: .none)
        _ = try store.get(key: other)
        XCTAssertEqual(store.smallFiles.count, 1)
        // Replaced by a symlink: not followed, whatever the cache holds.
        XCTAssertEqual(unlink(store.root + "/" + other), 0)
        XCTAssertEqual(symlink(path(store), store.root + "/" + other), 0)
        XCTAssertThrowsError(try store.get(key: other))
    }

    func testTheCacheIsBoundedInBytes() {
        let cache = SmallFileCache(maxFileBytes: 100, maxTotalBytes: 250, settledSeconds: 0)
        var st = stat()
        XCTAssertEqual(stat(directory.path, &st), 0)
        for i in 0..<10 {
            st.st_ino = ino_t(i + 1)
            st.st_size = 100
            cache.keep("k\(i)", [UInt8](repeating: 1, count: 100), before: st, after: st)
        }
        XCTAssertLessThanOrEqual(cache.count, 2)
        st.st_size = 101
        cache.keep("big", [UInt8](repeating: 1, count: 101), before: st, after: st)
        XCTAssertNil(cache.bytes("big", matching: st))
    }
}
