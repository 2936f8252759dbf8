import Foundation
import JSON
import Storage
import XCTest
@testable import API

final class RecordingRoutesTests: XCTestCase {
    @discardableResult
    func save(_ h: Harness, _ session: String, audio: [UInt8] = Samples.ogg, transcript: String = "words",
              metadata: String = "{}", as user: String = "auth0|alice") -> Reply {
        let r = h.save([.file("audio", audio), .text("transcript", transcript), .text("metadata", metadata), .text("session_id", session)], as: user)
        XCTAssertEqual(r.status, 201, r.text)
        return r
    }

    func ids(_ r: Reply) -> [String] { r.json.arrayValue?.compactMap { $0["session_id"]?.stringValue } ?? [] }

    func testGetOneMatchesTheSaveAnswer() {
        let h = Harness()
        let saved = save(h, "s1", metadata: #"{"name":"Standup","tags":["t"]}"#)
        let r = h.send("GET", "/api/v1/recordings/auth0%7Calice/s1")
        XCTAssertEqual(r.status, 200)
        XCTAssertEqual(r.text, saved.text)
        XCTAssertEqual(h.send("GET", "/api/v1/recordings/auth0|alice/s2").status, 404)
        XCTAssertEqual(h.send("GET", "/api/v1/recordings/auth0|alice/s1", as: "auth0|bob").status, 403)
        XCTAssertEqual(h.send("GET", "/api/v1/recordings/auth0|alice/s1", as: nil).status, 401)
        XCTAssertEqual(h.send("GET", "/api/v1/recordings/auth0|alice/..").status, 422)
        XCTAssertEqual(h.send("GET", "/api/v1/recordings/auth0|alice/a%2F..%2F..").status, 422)
        XCTAssertEqual(h.send("GET", "/api/v1/recordings/auth0|alice/%2e%2e").status, 422)
        XCTAssertEqual(h.send("GET", "/api/v1/recordings/auth0|alice/%zz").status, 422)
    }

    func testListingOrderRetentionLimitAndCorruptMetadata() throws {
        let h = Harness()
        save(h, "b")
        save(h, "a")
        h.clock.advance(60)
        save(h, "c")
        save(h, "old")
        save(h, "other", as: "auth0|bob")
        h.setModified("user_recordings/auth0|alice/old/session_metadata.json", h.clock.now.addingTimeInterval(-16 * 86_400))
        // Corrupt or foreign entries are skipped, never a 500.
        _ = try h.local.put(key: "user_recordings/auth0|alice/bad/session_metadata.json", bytes: Array("{oops".utf8), contentType: "x", condition: .none)
        _ = try h.local.put(key: "user_recordings/auth0|alice/arr/session_metadata.json", bytes: Array("[]".utf8), contentType: "x", condition: .none)
        _ = try h.local.put(key: "user_recordings/auth0|alice/half/audio.ogg", bytes: Samples.ogg, contentType: "x", condition: .none)

        let r = h.send("GET", "/api/v1/user_recordings/auth0%7Calice")
        XCTAssertEqual(r.status, 200)
        XCTAssertEqual(ids(r), ["c", "b", "a"], "newest first, ties by session id descending, the old one past retention")
        XCTAssertEqual(ids(h.send("GET", "/api/v1/user_recordings/auth0|alice?limit=2")), ["c", "b"])
        XCTAssertEqual(ids(h.send("GET", "/api/v1/user_recordings/auth0|alice?limit=1000")).count, 3)
        for bad in ["0", "1001", "x", "", "-1", "1.5"] {
            XCTAssertEqual(h.send("GET", "/api/v1/user_recordings/auth0|alice?limit=\(bad)").status, 422, bad)
        }
        // Retention filters listings only.
        XCTAssertEqual(h.send("GET", "/api/v1/recordings/auth0|alice/old").status, 200)
        let none = h.send("GET", "/api/v1/user_recordings/auth0|carol", as: "auth0|carol")
        XCTAssertEqual(none.status, 200)
        XCTAssertEqual(none.text, "[]")
        XCTAssertEqual(h.send("GET", "/api/v1/user_recordings/auth0|bob").status, 403)
        XCTAssertEqual(h.send("GET", "/api/v1/user_recordings/bad%20id").status, 422)
    }

    func testListingUsesTheCachedMetadata() throws {
        var counting: CountingStore!
        let h = Harness(storage: { local in
            counting = CountingStore(local)
            return StorageService(active: counting)
        })
        for i in 0..<30 { save(h, "s\(i)") }
        XCTAssertEqual(ids(h.send("GET", "/api/v1/user_recordings/auth0|alice")).count, 30)
        let fetched = counting.fetched
        XCTAssertEqual(ids(h.send("GET", "/api/v1/user_recordings/auth0|alice")).count, 30)
        XCTAssertEqual(counting.fetched, fetched, "a steady-state listing costs only the list call")
    }

    func testTranscript() throws {
        let h = Harness()
        save(h, "s1", transcript: "Hello, wörld\n")
        let r = h.send("GET", "/api/v1/recordings/auth0|alice/s1/transcript")
        XCTAssertEqual(r.status, 200)
        XCTAssertEqual(r.header("Content-Type"), "text/plain; charset=utf-8")
        XCTAssertEqual(r.text, "Hello, wörld\n")
        XCTAssertEqual(h.send("GET", "/api/v1/recordings/auth0|alice/nope/transcript").status, 404)
        XCTAssertEqual(h.send("GET", "/api/v1/recordings/auth0|alice/s1/transcript", as: "auth0|bob").status, 403)
    }

    func testAudioWholeAndRanges() throws {
        let h = Harness()
        let wav = Samples.wav(seconds: 3)
        save(h, "s1", audio: wav)
        let whole = h.send("GET", "/api/v1/recordings/auth0|alice/s1/audio")
        XCTAssertEqual(whole.status, 200)
        XCTAssertEqual(whole.body, wav)
        XCTAssertEqual(whole.header("Content-Type"), "audio/wav")
        XCTAssertEqual(whole.header("Accept-Ranges"), "bytes")
        XCTAssertEqual(whole.response.contentLength, Int64(wav.count))
        XCTAssertNotNil(whole.header("ETag"))

        let part = h.send("GET", "/api/v1/recordings/auth0|alice/s1/audio", headers: [("Range", "bytes=10-19")])
        XCTAssertEqual(part.status, 206)
        XCTAssertEqual(part.body, Array(wav[10...19]))
        XCTAssertEqual(part.header("Content-Range"), "bytes 10-19/\(wav.count)")
        XCTAssertEqual(part.response.contentLength, 10)
        let tail = h.send("GET", "/api/v1/recordings/auth0|alice/s1/audio", headers: [("Range", "bytes=-100")])
        XCTAssertEqual(tail.status, 206)
        XCTAssertEqual(tail.body, Array(wav.suffix(100)))
        let open = h.send("GET", "/api/v1/recordings/auth0|alice/s1/audio", headers: [("Range", "bytes=100-")])
        XCTAssertEqual(open.body, Array(wav[100...]))
        let many = h.send("GET", "/api/v1/recordings/auth0|alice/s1/audio", headers: [("Range", "bytes=0-1,5-6")])
        XCTAssertEqual(many.status, 200)
        XCTAssertEqual(many.body, wav)
        let beyond = h.send("GET", "/api/v1/recordings/auth0|alice/s1/audio", headers: [("Range", "bytes=\(wav.count)-")])
        XCTAssertEqual(beyond.status, 416)
        XCTAssertEqual(beyond.header("Content-Range"), "bytes */\(wav.count)")

        XCTAssertEqual(h.send("GET", "/api/v1/recordings/auth0|alice/nope/audio").status, 404)
        XCTAssertEqual(h.send("GET", "/api/v1/recordings/auth0|alice/s1/audio", as: "auth0|bob").status, 403)
    }

    func testAudioHandedToNginx() {
        let h = Harness()
        save(h, "s1", audio: Samples.webm)
        let r = h.send("GET", "/api/v1/recordings/auth0%7Calice/s1/audio", headers: [("Range", "bytes=0-3")],
                       server: ["RECSTORE_ACCEL_PREFIX": "/_recstore_files/"])
        XCTAssertEqual(r.status, 200)
        XCTAssertEqual(r.header("X-Accel-Redirect"), "/_recstore_files/user_recordings/auth0%7Calice/s1/audio.webm")
        XCTAssertEqual(r.header("Content-Type"), "audio/webm")
        XCTAssertEqual(r.body, [], "nginx serves the bytes and the range")
    }

    func testAudioStreamedFromAStoreWithoutLocalFiles() {
        var remote: DownStore!
        let h = Harness(configure: { $0.savesToS3 = true; $0.bucket = "b"; $0.redirectsAudioToS3 = false }) { local in
            remote = DownStore(LocalStore(root: local.root + "-s3"))
            return StorageService(active: remote, others: [local], fallback: local)
        }
        let wav = Samples.wav(seconds: 20)
        save(h, "s1", audio: wav)
        let r = h.send("GET", "/api/v1/recordings/auth0|alice/s1/audio", headers: [("Range", "bytes=1000-150000")],
                       server: ["RECSTORE_ACCEL_PREFIX": "/_recstore_files/"])
        XCTAssertEqual(r.status, 206)
        XCTAssertNil(r.header("X-Accel-Redirect"))
        XCTAssertEqual(r.header("Content-Length"), "149001")
        XCTAssertEqual(r.body, Array(wav[1000...150000]))
    }

    func testDelete() {
        let h = Harness()
        save(h, "s1")
        save(h, "s2")
        XCTAssertEqual(h.send("DELETE", "/api/v1/recordings/auth0|alice/s1", as: "auth0|bob").status, 403)
        XCTAssertEqual(h.send("DELETE", "/api/v1/recordings/auth0|alice/s1", as: nil).status, 401)
        let r = h.send("DELETE", "/api/v1/recordings/auth0|alice/s1")
        XCTAssertEqual(r.status, 200)
        XCTAssertEqual(r.text, #"{"session_id":"s1","deleted_objects":3}"#)
        XCTAssertEqual(h.send("DELETE", "/api/v1/recordings/auth0|alice/s1").status, 404)
        XCTAssertEqual(h.send("GET", "/api/v1/recordings/auth0|alice/s1").status, 404)
        XCTAssertEqual(ids(h.send("GET", "/api/v1/user_recordings/auth0|alice")), ["s2"])
        // A half-saved leftover (no metadata) is deleted too.
        _ = try? h.local.put(key: "user_recordings/auth0|alice/half/audio.ogg", bytes: Samples.ogg, contentType: "x", condition: .none)
        XCTAssertEqual(h.send("DELETE", "/api/v1/recordings/auth0|alice/half").json["deleted_objects"], .number("1"))
        XCTAssertEqual(h.scratch.files(under: "uploads"), [
            "user_recordings/auth0|alice/s2/audio.ogg", "user_recordings/auth0|alice/s2/session_metadata.json",
            "user_recordings/auth0|alice/s2/transcript.txt",
        ])
    }
}

/// Counts the objects read through `getMany`.
final class CountingStore: ObjectStore, @unchecked Sendable {
    let inner: LocalStore
    var kind: StoreKind { inner.kind }
    private let lock = NSLock()
    private var _fetched = 0
    var fetched: Int { lock.lock(); defer { lock.unlock() }; return _fetched }

    init(_ inner: LocalStore) { self.inner = inner }

    func getMany(keys: [String]) -> [String: Result<[UInt8], StorageError>] {
        lock.lock(); _fetched += keys.count; lock.unlock()
        return inner.getMany(keys: keys)
    }
    func get(key: String) throws -> (bytes: [UInt8], info: ObjectInfo) {
        lock.lock(); _fetched += 1; lock.unlock()
        return try inner.get(key: key)
    }
    func put(key: String, file: StagedFile, contentType: String, condition: WriteCondition) throws -> ObjectInfo {
        try inner.put(key: key, file: file, contentType: contentType, condition: condition)
    }
    func put(key: String, bytes: [UInt8], contentType: String, condition: WriteCondition) throws -> ObjectInfo {
        try inner.put(key: key, bytes: bytes, contentType: contentType, condition: condition)
    }
    func head(key: String) throws -> ObjectInfo? { try inner.head(key: key) }
    func list(prefix: String) throws -> [ObjectInfo] { try inner.list(prefix: prefix) }
    func delete(prefix: String) throws -> Int { try inner.delete(prefix: prefix) }
    func read(key: String, range: ByteRange?, into sink: (UnsafeRawBufferPointer) throws -> Void) throws {
        try inner.read(key: key, range: range, into: sink)
    }
    func localPath(key: String) -> String? { inner.localPath(key: key) }
    func presignedURL(key: String, seconds: Int) -> String? { nil }
    func checkReachable() throws { try inner.checkReachable() }
}
