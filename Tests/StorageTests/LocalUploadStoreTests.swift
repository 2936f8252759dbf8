import Digests
import Foundation
import XCTest
@testable import Storage

final class LocalUploadStoreTests: XCTestCase {
    var directory: TestDirectory!
    var uploads: LocalUploadStore!
    let now = Date(timeIntervalSince1970: 1_800_000_000)

    override func setUp() {
        directory = TestDirectory()
        uploads = LocalUploadStore(root: directory.path + "/root")
    }

    override func tearDown() {
        uploads = nil
        directory = nil
    }

    func newRecord(length: Int64, owner: String = "alice") -> UploadRecord {
        UploadRecord(id: UploadID.make(), owner: owner, length: length, metadata: "filename YS53YXY=",
                     created: now, expires: now.addingTimeInterval(60))
    }

    /// A body that hands out `bytes` in pieces of `piece`, then throws if `failAfter` is set.
    func body(_ bytes: [UInt8], piece: Int = 1000, failAtEnd: Bool = false) -> (UnsafeMutableRawBufferPointer) throws -> Int {
        var offset = 0
        return { buffer in
            let n = min(piece, buffer.count, bytes.count - offset)
            if n == 0 {
                if failAtEnd { throw CancellationError() }
                return 0
            }
            bytes.withUnsafeBytes { buffer.baseAddress!.copyMemory(from: $0.baseAddress! + offset, byteCount: n) }
            offset += n
            return n
        }
    }

    func append(_ record: UploadRecord, at offset: Int64, _ bytes: [UInt8], owner: String = "alice", failAtEnd: Bool = false) throws -> UploadRecord {
        try uploads.append(id: record.id, owner: owner, at: offset, now: now, expires: now.addingTimeInterval(120),
                           readBody: body(bytes, failAtEnd: failAtEnd))
    }

    func testRecordRoundTripsThroughTheStore() throws {
        let record = newRecord(length: 10)
        try uploads.create(record)
        XCTAssertEqual(try uploads.record(id: record.id), record)
        XCTAssertNil(try uploads.record(id: UploadID.make()))
        XCTAssertNil(try uploads.record(id: "../../etc/passwd"))
    }

    func testAppendsAtTheStoredOffsetAndHashesWhatItStores() throws {
        let content = (0..<5000).map { UInt8($0 % 251) }
        let record = newRecord(length: Int64(content.count))
        try uploads.create(record)
        var updated = try append(record, at: 0, Array(content[0..<1234]))
        XCTAssertEqual(updated.offset, 1234)
        XCTAssertEqual(updated.expires, now.addingTimeInterval(120))
        XCTAssertThrowsError(try append(record, at: 0, [1, 2, 3])) { XCTAssertEqual($0 as? UploadRefusal, .offsetMismatch(stored: 1234)) }
        updated = try append(record, at: 1234, Array(content[1234...]))
        XCTAssertTrue(updated.isComplete)
        XCTAssertEqual(updated.hash.hexDigest(), Digest.hex(Digest.sha256(content)))
        XCTAssertEqual(updated.head, Array(content.prefix(UploadRecord.headLength)))
        guard case .file(let staged) = try uploads.content(of: updated) else { return XCTFail("not a file") }
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: staged.path)), Data(content))
        XCTAssertEqual(staged.sha256, Digest.hex(Digest.sha256(content)))
    }

    func testPastTheLengthChangesNothing() throws {
        let record = newRecord(length: 10)
        try uploads.create(record)
        XCTAssertThrowsError(try append(record, at: 0, Array(repeating: 7, count: 11))) {
            XCTAssertEqual($0 as? UploadRefusal, .pastLength(length: 10))
        }
        XCTAssertEqual(try uploads.record(id: record.id)?.offset, 0)
    }

    func testAnInterruptedBodyKeepsWhatArrived() throws {
        let record = newRecord(length: 100)
        try uploads.create(record)
        XCTAssertThrowsError(try append(record, at: 0, Array(repeating: 9, count: 40), failAtEnd: true)) {
            XCTAssertTrue($0 is CancellationError)
        }
        XCTAssertEqual(try uploads.record(id: record.id)?.offset, 40)
    }

    func testOtherOwnersAndExpiredUploadsAreNotFound() throws {
        let record = newRecord(length: 10)
        try uploads.create(record)
        XCTAssertThrowsError(try append(record, at: 0, [1], owner: "mallory")) { XCTAssertEqual($0 as? UploadRefusal, .notFound) }
        XCTAssertThrowsError(try uploads.append(id: record.id, owner: "alice", at: 0, now: now.addingTimeInterval(61),
                                                expires: now, readBody: body([1]))) {
            XCTAssertEqual($0 as? UploadRefusal, .notFound)
        }
    }

    func testASecondAppendWhileOneIsRunningIsBusy() throws {
        let record = newRecord(length: 10)
        try uploads.create(record)
        var inner: Error?
        var first = false
        _ = try uploads.append(id: record.id, owner: "alice", at: 0, now: now, expires: now) { buffer in
            if !first {
                first = true
                do { _ = try self.append(record, at: 0, [1]) } catch { inner = error }
            }
            return 0
        }
        XCTAssertEqual(inner as? UploadRefusal, .busy)
    }

    func testSweepRemovesExpiredUploadsOnly() throws {
        let old = newRecord(length: 10)
        var fresh = newRecord(length: 10)
        fresh.expires = now.addingTimeInterval(3600)
        try uploads.create(old)
        try uploads.create(fresh)
        XCTAssertEqual(try uploads.sweep(now: now.addingTimeInterval(61)), 1)
        XCTAssertNil(try uploads.record(id: old.id))
        XCTAssertNotNil(try uploads.record(id: fresh.id))
        XCTAssertFalse(FileManager.default.fileExists(atPath: uploads.dataPath(old.id)))
        try uploads.remove(id: fresh.id)
        XCTAssertNil(try uploads.record(id: fresh.id))
    }

    func testRunningHashSurvivesSerialisation() throws {
        var state = SHA256State()
        let a = Array("hello, ".utf8), b = Array("world".utf8) + Array(repeating: 0x41, count: 200)
        a.withUnsafeBytes { state.update($0) }
        let restored = SHA256State(serialized: state.serialized)
        XCTAssertNotNil(restored)
        var s = restored!
        b.withUnsafeBytes { s.update($0) }
        XCTAssertEqual(s.hexDigest(), Digest.hex(Digest.sha256(a + b)))
        XCTAssertNil(SHA256State(serialized: "00"))
    }
}
