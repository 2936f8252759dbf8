import Foundation
import XCTest
@testable import Storage

final class LocalStoreTests: XCTestCase {
    var directory: TestDirectory!
    var store: LocalStore!

    override func setUp() {
        directory = TestDirectory()
        store = LocalStore(root: directory.path + "/root")
    }

    override func tearDown() {
        store = nil
        directory = nil
    }

    func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }

    func testPutGetHeadRoundTrip() throws {
        let key = "user_settings/auth0|abc/settings.json"
        let info = try store.put(key: key, bytes: bytes("{\"a\":1}"), contentType: "application/json", condition: .none)
        XCTAssertEqual(info.size, 7)
        let (read, readInfo) = try store.get(key: key)
        XCTAssertEqual(read, bytes("{\"a\":1}"))
        XCTAssertEqual(readInfo, info)
        XCTAssertEqual(try store.head(key: key), info)
        XCTAssertNil(try store.head(key: "user_settings/auth0|abc/other.json"))
        XCTAssertThrowsError(try store.get(key: "user_settings/nobody/settings.json")) {
            XCTAssertEqual($0 as? StorageError, .notFound("user_settings/nobody/settings.json"))
        }
        XCTAssertEqual(try String(contentsOfFile: directory.path + "/root/" + key, encoding: .utf8), "{\"a\":1}")
        XCTAssertEqual(store.localPath(key: key), directory.path + "/root/" + key)
    }

    func testETagIsStableAcrossInstancesAndChangesOnWrite() throws {
        let key = "user_settings/u/settings.json"
        let first = try store.put(key: key, bytes: bytes("one"), contentType: "application/json", condition: .none)
        let other = LocalStore(root: directory.path + "/root")
        XCTAssertEqual(try other.head(key: key)?.etag, first.etag)
        let second = try store.put(key: key, bytes: bytes("one"), contentType: "application/json", condition: .none)
        XCTAssertNotEqual(second.etag, first.etag)
        XCTAssertEqual(try other.head(key: key)?.etag, second.etag)
    }

    func testCreateOnlyRefusesAnExistingKeyAndKeepsIt() throws {
        let key = "user_recordings/u/s/transcript.txt"
        _ = try store.put(key: key, bytes: bytes("original"), contentType: "text/plain", condition: .createOnly)
        XCTAssertThrowsError(try store.put(key: key, bytes: bytes("intruder"), contentType: "text/plain", condition: .createOnly)) {
            XCTAssertEqual($0 as? StorageError, .alreadyExists(key))
        }
        XCTAssertEqual(try store.get(key: key).bytes, bytes("original"))
        XCTAssertEqual(directory.allFiles(), ["root/" + key], "no temporary file is left behind")
    }

    func testIfMatchWritesOnlyOverTheExpectedVersion() throws {
        let key = "user_settings/u/settings.json"
        XCTAssertThrowsError(try store.put(key: key, bytes: bytes("x"), contentType: "application/json", condition: .ifMatch("nope"))) {
            XCTAssertEqual($0 as? StorageError, .preconditionFailed(key))
        }
        let v1 = try store.put(key: key, bytes: bytes("v1"), contentType: "application/json", condition: .none)
        let v2 = try store.put(key: key, bytes: bytes("v2"), contentType: "application/json", condition: .ifMatch(v1.etag))
        XCTAssertThrowsError(try store.put(key: key, bytes: bytes("v3"), contentType: "application/json", condition: .ifMatch(v1.etag))) {
            XCTAssertEqual($0 as? StorageError, .preconditionFailed(key))
        }
        XCTAssertEqual(try store.get(key: key).bytes, bytes("v2"))
        XCTAssertEqual(try store.head(key: key)?.etag, v2.etag)
        XCTAssertEqual(directory.allFiles(), ["root/" + key])
    }

    func testConcurrentIfMatchWritersExactlyOneWins() throws {
        let key = "user_settings/u/settings.json"
        let base = try store.put(key: key, bytes: bytes("base"), contentType: "application/json", condition: .none)
        let store = self.store!
        let wins = Counter()
        DispatchQueue.concurrentPerform(iterations: 8) { i in
            if (try? store.put(key: key, bytes: Array("writer \(i)".utf8), contentType: "application/json", condition: .ifMatch(base.etag))) != nil {
                wins.increment()
            }
        }
        XCTAssertEqual(wins.value, 1)
    }

    func testPutStagedFileMovesItIntoPlace() throws {
        let staged = directory.write("root/.tmp/upload-1", "RIFF....WAVE")
        let file = StagedFile(path: staged, size: 12, sha256: "")
        let key = "user_recordings/u/s/audio.wav"
        let info = try store.put(key: key, file: file, contentType: "audio/wav", condition: .createOnly)
        XCTAssertEqual(info.size, 12)
        XCTAssertFalse(FileManager.default.fileExists(atPath: staged), "a staged file on the same filesystem is taken")
        XCTAssertEqual(try store.get(key: key).bytes, bytes("RIFF....WAVE"))
        // Readable by the owner and the group (nginx's), never by other users.
        let mode = try FileManager.default.attributesOfItem(atPath: directory.path + "/root/" + key)[.posixPermissions] as? Int
        XCTAssertEqual(mode, 0o640)
        for dir in ["/root/user_recordings", "/root/user_recordings/u", "/root/user_recordings/u/s"] {
            let dirMode = try FileManager.default.attributesOfItem(atPath: directory.path + dir)[.posixPermissions] as? Int
            XCTAssertEqual(dirMode, 0o750, dir)
        }
    }

    func testWrittenDocumentsAreNotWorldReadable() throws {
        _ = try store.put(key: "user_settings/u/settings.json", bytes: bytes("{}"), contentType: "application/json",
                          condition: .none)
        let mode = try FileManager.default.attributesOfItem(atPath: directory.path + "/root/user_settings/u/settings.json")[.posixPermissions] as? Int
        XCTAssertEqual(mode, 0o640)
    }

    func testPutStagedFileFromAnotherFilesystemIsCopied() throws {
        // /dev/shm is a tmpfs on Linux: a different device from the test directory.
        let shm = "/dev/shm/storage-test-" + UUID().uuidString
        XCTAssertTrue(FileManager.default.createFile(atPath: shm, contents: Data("fLaC data".utf8)))
        defer { try? FileManager.default.removeItem(atPath: shm) }
        let key = "user_recordings/u/s/audio.flac"
        let info = try store.put(key: key, file: StagedFile(path: shm, size: 9, sha256: ""), contentType: "audio/flac", condition: .createOnly)
        XCTAssertEqual(info.size, 9)
        XCTAssertEqual(try store.get(key: key).bytes, bytes("fLaC data"))
        XCTAssertEqual(directory.allFiles(), ["root/" + key])
    }

    func testListByPrefixInKeyOrderSkipsForeignFiles() throws {
        for key in ["user_recordings/u/s2/session_metadata.json", "user_recordings/u/s1/audio.wav",
                    "user_recordings/u/s1/session_metadata.json", "user_recordings/v/s1/audio.wav",
                    "user_recordings/u2/s/audio.wav"] {
            _ = try store.put(key: key, bytes: bytes(key), contentType: "x", condition: .none)
        }
        _ = directory.write("root/user_recordings/u/s1/.~tmp.123", "half")
        _ = directory.write("root/user_recordings/u/s1/bad name", "foreign")
        _ = directory.write("root/.tmp/upload", "staged")
        try FileManager.default.createSymbolicLink(atPath: directory.path + "/root/user_recordings/u/s1/link.json",
                                                   withDestinationPath: directory.path + "/outside")
        XCTAssertEqual(try store.list(prefix: "user_recordings/u/").map(\.key), [
            "user_recordings/u/s1/audio.wav", "user_recordings/u/s1/session_metadata.json", "user_recordings/u/s2/session_metadata.json",
        ])
        XCTAssertEqual(try store.list(prefix: "user_recordings/u").map(\.key).count, 4, "a partial segment matches like S3")
        XCTAssertEqual(try store.list(prefix: "user_recordings/nobody/"), [])
        XCTAssertEqual(try store.list(prefix: "").count, 5)
        let listed = try store.list(prefix: "user_recordings/u/s1/")
        XCTAssertEqual(listed.first?.size, Int64("user_recordings/u/s1/audio.wav".utf8.count))
        XCTAssertEqual(listed.first, try store.head(key: "user_recordings/u/s1/audio.wav"))
    }

    func testDeletePrefixCountsAndRemovesEmptiedDirectories() throws {
        for key in ["user_recordings/u/s/audio.wav", "user_recordings/u/s/transcript.txt",
                    "user_recordings/u/s/session_metadata.json", "user_recordings/u/s2/audio.wav"] {
            _ = try store.put(key: key, bytes: bytes("x"), contentType: "x", condition: .none)
        }
        XCTAssertEqual(try store.delete(prefix: "user_recordings/u/s/"), 3)
        XCTAssertFalse(FileManager.default.fileExists(atPath: directory.path + "/root/user_recordings/u/s"))
        XCTAssertTrue(FileManager.default.fileExists(atPath: directory.path + "/root/user_recordings/u/s2/audio.wav"))
        XCTAssertEqual(try store.delete(prefix: "user_recordings/u/s/"), 0)
        XCTAssertThrowsError(try store.delete(prefix: ""))
    }

    func testReadStreamsRanges() throws {
        let key = "user_recordings/u/s/audio.wav"
        let content = (0..<200_000).map { UInt8($0 % 251) }
        _ = try store.put(key: key, bytes: content, contentType: "audio/wav", condition: .none)
        func read(_ range: ByteRange?) throws -> [UInt8] {
            var out: [UInt8] = []
            try store.read(key: key, range: range) { out.append(contentsOf: $0) }
            return out
        }
        XCTAssertEqual(try read(nil), content)
        XCTAssertEqual(try read(ByteRange(first: 10, last: 19)), Array(content[10...19]))
        XCTAssertEqual(try read(ByteRange(first: 70_000, last: 199_999)), Array(content[70_000...]))
        XCTAssertThrowsError(try store.read(key: "user_recordings/u/s/audio.mp3", range: nil) { _ in }) {
            XCTAssertEqual($0 as? StorageError, .notFound("user_recordings/u/s/audio.mp3"))
        }
    }

    func testTraversalAttemptsAreRefusedAndWriteNothingOutside() throws {
        let outside = directory.path + "/outside"
        let attempts = [
            "../outside", "user_recordings/../../outside", "user_recordings/u/../../../outside",
            "user_recordings/..%2F..%2Foutside/x", "user_recordings/%2e%2e/x", outside, "/" + outside,
            "user_recordings/u\u{0}/x", "user_recordings/\u{FF0E}\u{FF0E}/outside", "user_recordings/\u{2024}\u{2024}/x",
            "user_recordings/u\u{2215}..\u{2215}x", "user_recordings/..\\..\\outside", "user_recordings/./x", "",
        ]
        for key in attempts {
            XCTAssertThrowsError(try store.put(key: key, bytes: bytes("evil"), contentType: "x", condition: .none), key.debugDescription) {
                XCTAssertEqual($0 as? StorageError, .invalidKey(key))
            }
            let staged = directory.write("root/.tmp/staged", "evil")
            XCTAssertThrowsError(try store.put(key: key, file: StagedFile(path: staged, size: 4, sha256: ""), contentType: "x", condition: .none))
            XCTAssertThrowsError(try store.get(key: key))
            XCTAssertThrowsError(try store.head(key: key))
            XCTAssertThrowsError(try store.read(key: key, range: nil) { _ in })
            XCTAssertNil(store.localPath(key: key))
        }
        for prefix in ["../", "user_recordings/../../", "/", "/etc/", "user_recordings/\u{0}/"] {
            XCTAssertThrowsError(try store.list(prefix: prefix), prefix.debugDescription)
            XCTAssertThrowsError(try store.delete(prefix: prefix), prefix.debugDescription)
        }
        XCTAssertEqual(directory.allFiles(), ["root/.tmp/staged"], "nothing was written anywhere else")
    }

    func testSymbolicLinksAreNotFollowed() throws {
        _ = directory.write("secret", "secret")
        try FileManager.default.createDirectory(atPath: directory.path + "/root/user_settings/u", withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: directory.path + "/root/user_settings/u/settings.json",
                                                   withDestinationPath: directory.path + "/secret")
        XCTAssertThrowsError(try store.get(key: "user_settings/u/settings.json")) {
            XCTAssertEqual($0 as? StorageError, .notFound("user_settings/u/settings.json"))
        }
        XCTAssertNil(try store.head(key: "user_settings/u/settings.json"))
    }

    func testReadersNeverSeeHalfAFile() throws {
        let key = "user_settings/u/settings.json"
        let a = [UInt8](repeating: UInt8(ascii: "a"), count: 1 << 20)
        let b = [UInt8](repeating: UInt8(ascii: "b"), count: (1 << 20) + 4096)
        _ = try store.put(key: key, bytes: a, contentType: "x", condition: .none)
        let store = self.store!
        let done = Flag()
        let torn = Counter(), reads = Counter()
        let writer = Thread {
            for i in 0..<60 { _ = try? store.put(key: key, bytes: i % 2 == 0 ? b : a, contentType: "x", condition: .none) }
            done.set()
        }
        writer.start()
        DispatchQueue.concurrentPerform(iterations: 2) { _ in
            while !done.isSet {
                guard let (got, info) = try? store.get(key: key) else { torn.increment(); continue }
                reads.increment()
                if !(got == a || got == b) || Int64(got.count) != info.size { torn.increment() }
            }
        }
        XCTAssertGreaterThan(reads.value, 0)
        XCTAssertEqual(torn.value, 0)
        XCTAssertEqual(directory.allFiles(), ["root/" + key])
    }

    func testCheckReachable() throws {
        XCTAssertNoThrow(try store.checkReachable())
        _ = directory.write("file", "not a directory")
        let broken = LocalStore(root: directory.path + "/file/root")
        XCTAssertThrowsError(try broken.checkReachable()) {
            guard case .unavailable = $0 as? StorageError else { return XCTFail("\($0)") }
        }
        XCTAssertThrowsError(try broken.put(key: "user_settings/u/settings.json", bytes: [1], contentType: "x", condition: .none)) {
            guard case .unavailable = $0 as? StorageError else { return XCTFail("\($0)") }
        }
    }
}

final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var n = 0
    func increment() { lock.lock(); n += 1; lock.unlock() }
    var value: Int { lock.lock(); defer { lock.unlock() }; return n }
}

final class Flag: @unchecked Sendable {
    private let lock = NSLock()
    private var on = false
    func set() { lock.lock(); on = true; lock.unlock() }
    var isSet: Bool { lock.lock(); defer { lock.unlock() }; return on }
}
