import Foundation
import JSON
import XCTest
@testable import Storage

/// "Two stores, one view" with a real local store and a second one behind a
/// double that plays S3 and can be taken down.
final class StorageServiceTests: XCTestCase {
    var directory: TestDirectory!
    var local: LocalStore!
    var remote: FlakyStore!

    override func setUp() {
        directory = TestDirectory()
        local = LocalStore(root: directory.path + "/local")
        remote = FlakyStore(LocalStore(root: directory.path + "/remote"))
    }

    override func tearDown() {
        local = nil
        remote = nil
        directory = nil
    }

    /// S3 mode: writes to the remote store, reads both, falls back to local.
    func s3Mode() -> StorageService { StorageService(active: remote, others: [local], fallback: local) }
    /// LOCAL mode with a bucket configured: the remote store is read too.
    func localMode() -> StorageService { StorageService(active: local, others: [remote]) }

    func recording(_ session: String, audio: String = "audio") -> (StoreKind) -> [NewObject] {
        { kind in [
            NewObject(key: "user_recordings/u/\(session)/audio.wav", content: .bytes(Array(audio.utf8)), contentType: "audio/wav"),
            NewObject(key: "user_recordings/u/\(session)/transcript.txt", content: .bytes([]), contentType: "text/plain"),
            NewObject(key: "user_recordings/u/\(session)/session_metadata.json",
                      content: .bytes(Array("{\"storage\":\"\(kind.rawValue)\"}".utf8)), contentType: "application/json"),
        ] }
    }

    func testStoresAreReadActiveFirstAndEachOnce() {
        let service = StorageService(active: remote, others: [local, remote], fallback: local)
        XCTAssertEqual(service.stores.count, 2)
        XCTAssertEqual(service.fallbackIndex, 1)
        XCTAssertTrue(service.active as AnyObject === remote)
        let separate = StorageService(active: local, fallback: remote)
        XCTAssertEqual(separate.stores.count, 2, "the fallback store is read too")
        XCTAssertEqual(StorageService(active: local).stores.count, 1)
    }

    func testCreateWritesToTheActiveStoreInOrder() throws {
        let service = s3Mode()
        XCTAssertEqual(try service.create(prefix: "user_recordings/u/s1/", recording("s1")), .s3)
        XCTAssertEqual(try remote.inner.list(prefix: "user_recordings/u/s1/").count, 3)
        XCTAssertEqual(try local.list(prefix: "").count, 0)
        XCTAssertEqual(try remote.inner.get(key: "user_recordings/u/s1/session_metadata.json").bytes, Array("{\"storage\":\"s3\"}".utf8))
    }

    func testCreateFallsBackWhenTheActiveStoreIsDown() throws {
        let service = s3Mode()
        remote.down = true
        XCTAssertEqual(try service.create(prefix: "user_recordings/u/s1/", recording("s1")), .local)
        XCTAssertEqual(try local.get(key: "user_recordings/u/s1/session_metadata.json").bytes, Array("{\"storage\":\"local\"}".utf8))
    }

    func testCreateFallsBackWhenTheActiveStoreFailsMidwayAndCleansUp() throws {
        let service = s3Mode()
        remote.putsBeforeFailure = 2
        XCTAssertEqual(try service.create(prefix: "user_recordings/u/s1/", recording("s1")), .local)
        XCTAssertEqual(try remote.inner.list(prefix: "user_recordings/").map(\.key), [],
                       "the objects written before the failure were removed")
        XCTAssertEqual(try local.list(prefix: "user_recordings/u/s1/").count, 3)
    }

    func testCreateWithoutFallbackReportsUnavailable() {
        let service = StorageService(active: remote, others: [local])
        remote.down = true
        XCTAssertThrowsError(try service.create(prefix: "user_recordings/u/s1/", recording("s1"))) {
            guard case .unavailable = $0 as? StorageError else { return XCTFail("\($0)") }
        }
        XCTAssertEqual(try local.list(prefix: "").count, 0)
    }

    func testTheConflictRuleLooksInEveryStore() throws {
        // An old local recording, seen from S3 mode.
        try localMode().create(prefix: "user_recordings/u/s1/", recording("s1", audio: "original"))
        let service = s3Mode()
        XCTAssertThrowsError(try service.create(prefix: "user_recordings/u/s1/", recording("s1", audio: "new"))) {
            XCTAssertEqual($0 as? StorageError, .alreadyExists("user_recordings/u/s1/"))
        }
        XCTAssertEqual(try local.get(key: "user_recordings/u/s1/audio.wav").bytes, Array("original".utf8))
        XCTAssertEqual(try remote.inner.list(prefix: "").count, 0)
        // And a recording in S3, seen from LOCAL mode.
        try service.create(prefix: "user_recordings/u/s2/", recording("s2"))
        XCTAssertThrowsError(try localMode().create(prefix: "user_recordings/u/s2/", recording("s2"))) {
            XCTAssertEqual($0 as? StorageError, .alreadyExists("user_recordings/u/s2/"))
        }
    }

    func testARaceLosersObjectsAreRemovedAndTheWinnersKept() throws {
        // The winner's metadata is already there, as if it landed between the
        // loser's check and its writes: the loser must remove only what it wrote.
        let service = localMode()
        _ = try local.put(key: "user_recordings/u/s1/session_metadata.json", bytes: Array("winner".utf8), contentType: "x", condition: .createOnly)
        XCTAssertThrowsError(try service.write(recording("s1")(.local), to: local)) {
            XCTAssertEqual($0 as? StorageError, .alreadyExists("user_recordings/u/s1/session_metadata.json"))
        }
        XCTAssertEqual(try local.list(prefix: "user_recordings/u/s1/").map(\.key), ["user_recordings/u/s1/session_metadata.json"])
        XCTAssertEqual(try local.get(key: "user_recordings/u/s1/session_metadata.json").bytes, Array("winner".utf8))
    }

    func testListingMergesStoresAndIsNeverPartial() throws {
        let service = s3Mode()
        try service.create(prefix: "user_recordings/u/s1/", recording("s1"))
        remote.down = true
        try service.create(prefix: "user_recordings/u/s2/", recording("s2"))
        XCTAssertThrowsError(try service.list(prefix: "user_recordings/u/")) {
            guard case .unavailable = $0 as? StorageError else { return XCTFail("\($0)") }
        }
        remote.down = false
        let all = try service.list(prefix: "user_recordings/u/")
        XCTAssertEqual(all.count, 6)
        XCTAssertEqual(Set(all.map { "\($0.kind.rawValue) \($0.info.key)" }).count, 6)
        XCTAssertEqual(all.filter { $0.kind == .s3 }.count, 3)
    }

    func testASingleObjectIsServedFromAReachableStore() throws {
        let service = s3Mode()
        remote.down = true
        try service.create(prefix: "user_recordings/u/s1/", recording("s1"))
        let found = try XCTUnwrap(try service.get(key: "user_recordings/u/s1/session_metadata.json"))
        XCTAssertEqual(found.object.kind, .local)
        XCTAssertEqual(try service.head(key: "user_recordings/u/s1/audio.wav")?.kind, .local)
        // Not found where we could look, and one store could not be asked: unknown, not absent.
        XCTAssertThrowsError(try service.get(key: "user_recordings/u/s9/session_metadata.json")) {
            guard case .unavailable = $0 as? StorageError else { return XCTFail("\($0)") }
        }
        XCTAssertThrowsError(try service.head(key: "user_recordings/u/s9/session_metadata.json"))
        remote.down = false
        XCTAssertNil(try service.get(key: "user_recordings/u/s9/session_metadata.json"))
        XCTAssertNil(try service.head(key: "user_recordings/u/s9/session_metadata.json"))
    }

    func testTheActiveStoreWinsWhenBothHoldAKey() throws {
        _ = try local.put(key: "user_settings/u/settings.json", bytes: Array("old local".utf8), contentType: "x", condition: .none)
        _ = try remote.put(key: "user_settings/u/settings.json", bytes: Array("s3".utf8), contentType: "x", condition: .none)
        XCTAssertEqual(try s3Mode().get(key: "user_settings/u/settings.json")?.bytes, Array("s3".utf8))
        XCTAssertEqual(try localMode().get(key: "user_settings/u/settings.json")?.bytes, Array("old local".utf8))
    }

    func testDeleteRemovesFromEveryStore() throws {
        let service = s3Mode()
        try service.create(prefix: "user_recordings/u/s1/", recording("s1"))
        _ = try local.put(key: "user_recordings/u/s1/audio.wav", bytes: [1], contentType: "x", condition: .none)
        XCTAssertEqual(try service.delete(prefix: "user_recordings/u/s1/"), 4)
        XCTAssertEqual(try service.list(prefix: "user_recordings/").count, 0)
        XCTAssertEqual(try service.delete(prefix: "user_recordings/u/s1/"), 0)
        try service.create(prefix: "user_recordings/u/s2/", recording("s2"))
        remote.down = true
        XCTAssertThrowsError(try service.delete(prefix: "user_recordings/u/s2/")) {
            guard case .unavailable = $0 as? StorageError else { return XCTFail("\($0)") }
        }
    }

    func testDocumentsAreParsedOnceAndCorruptOnesReported() throws {
        let service = s3Mode()
        for i in 0..<20 { try service.create(prefix: "user_recordings/u/s\(i)/", recording("s\(i)")) }
        _ = try remote.inner.put(key: "user_recordings/u/bad/session_metadata.json", bytes: Array("{not json".utf8), contentType: "x", condition: .none)
        let metadata = { try service.list(prefix: "user_recordings/u/").filter { $0.info.key.hasSuffix("/session_metadata.json") } }
        let first = try service.documents(try metadata())
        XCTAssertEqual(first.count, 21)
        XCTAssertEqual(first.filter { $0.document == .json(.object(JSONObject([("storage", .string("s3"))]))) }.count, 20)
        XCTAssertEqual(first.filter { if case .corrupt = $0.document { true } else { false } }.map(\.object.info.key),
                       ["user_recordings/u/bad/session_metadata.json"])
        XCTAssertEqual(remote.getManyKeys, 21)
        _ = try service.documents(try metadata())
        XCTAssertEqual(remote.getManyKeys, 21, "a steady-state listing fetches nothing")
        // A rewritten object has a new ETag and is read again.
        _ = try remote.inner.put(key: "user_recordings/u/bad/session_metadata.json", bytes: Array("{}".utf8), contentType: "x", condition: .none)
        let third = try service.documents(try metadata())
        XCTAssertEqual(remote.getManyKeys, 22)
        XCTAssertTrue(third.contains { $0.document == .json(.object(JSONObject())) })
    }

    func testDocumentsFromAStoreThatWentDownAreUnavailable() throws {
        let service = s3Mode()
        try service.create(prefix: "user_recordings/u/s1/", recording("s1"))
        let listed = try service.list(prefix: "user_recordings/u/").filter { $0.info.key.hasSuffix(".json") }
        remote.down = true
        XCTAssertThrowsError(try service.documents(listed)) {
            guard case .unavailable = $0 as? StorageError else { return XCTFail("\($0)") }
        }
    }

    func testDocumentsDeletedMeanwhileAreLeftOut() throws {
        let service = localMode()
        try service.create(prefix: "user_recordings/u/s1/", recording("s1"))
        let listed = try service.list(prefix: "user_recordings/u/").filter { $0.info.key.hasSuffix(".json") }
        _ = try service.delete(prefix: "user_recordings/u/s1/")
        XCTAssertEqual(try service.documents(listed).count, 0)
    }

    func testDocumentCacheIsBounded() {
        let cache = DocumentCache(capacity: 3)
        for i in 0..<10 { cache.put("k\(i)", .corrupt("\(i)")) }
        XCTAssertEqual(cache.count, 3)
        XCTAssertNil(cache.get("k6"))
        XCTAssertEqual(cache.get("k9"), .corrupt("9"))
    }
}
