import Digests
import Foundation
import Storage
import XCTest
@testable import S3

/// The S3 upload store and server-side copies against moto (signature checks on).
final class S3UploadStoreTests: XCTestCase {
    nonisolated(unsafe) static var moto: MotoServer!

    override class func setUp() {
        super.setUp()
        moto = try! MotoServer(bucket: "recstore-uploads")
    }

    override class func tearDown() {
        moto.stop()
        moto = nil
        super.tearDown()
    }

    var moto: MotoServer { Self.moto }
    let staging = FileManager.default.temporaryDirectory.path + "/s3-upload-staging-" + UUID().uuidString
    let now = Date()
    let MiB = 1024 * 1024

    func content(_ count: Int, seed: UInt8 = 0) -> [UInt8] { (0..<count).map { UInt8(truncatingIfNeeded: $0 * 7 + Int(seed)) } }

    func body(_ bytes: ArraySlice<UInt8>, failAtEnd: Bool = false) -> (UnsafeMutableRawBufferPointer) throws -> Int {
        var offset = bytes.startIndex
        return { buffer in
            let n = min(buffer.count, 100_000, bytes.endIndex - offset)
            if n == 0 {
                if failAtEnd { throw CancellationError() }
                return 0
            }
            bytes.withUnsafeBytes { buffer.baseAddress!.copyMemory(from: $0.baseAddress! + (offset - bytes.startIndex), byteCount: n) }
            offset += n
            return n
        }
    }

    func keys(_ prefix: String) throws -> String {
        try moto.boto("print(sorted(o['Key'] for o in s3.list_objects_v2(Bucket=bucket, Prefix=\(pyString(prefix))).get('Contents', [])))")
    }

    func multipartUploads(_ prefix: String) throws -> String {
        try moto.boto("print(len(s3.list_multipart_uploads(Bucket=bucket, Prefix=\(pyString(prefix))).get('Uploads', [])))")
    }

    func pyString(_ s: String) -> String { "'" + s.replacingOccurrences(of: "'", with: "\\'") + "'" }

    func testAppendsAcrossPartsAndPendingThenCopies() throws {
        let store = moto.store()
        let uploads = S3UploadStore(store: store, stagingDirectory: staging)
        let data = content(12 * MiB + 5)
        let record = UploadRecord(id: UploadID.make(), owner: "alice", length: Int64(data.count), metadata: nil,
                                  created: now, expires: now.addingTimeInterval(60))
        try uploads.create(record)
        var offset = 0
        // Pieces that straddle the 5 MiB part boundary; one is interrupted and keeps its bytes.
        for (i, end) in [3 * MiB, 7 * MiB + 11, 9 * MiB, data.count].enumerated() {
            let interrupted = i == 2
            do {
                let r = try uploads.append(id: record.id, owner: "alice", at: Int64(offset), now: now, expires: now.addingTimeInterval(60),
                                           readBody: body(data[offset..<end], failAtEnd: interrupted))
                XCTAssertFalse(interrupted)
                XCTAssertEqual(r.offset, Int64(end))
            } catch is CancellationError {
                XCTAssertTrue(interrupted)
            }
            XCTAssertEqual(try uploads.record(id: record.id)?.offset, Int64(end))
            offset = end
        }
        XCTAssertThrowsError(try uploads.append(id: record.id, owner: "mallory", at: Int64(offset), now: now, expires: now,
                                                readBody: body([][...]))) { XCTAssertEqual($0 as? UploadRefusal, .notFound) }
        let done = try XCTUnwrap(try uploads.record(id: record.id))
        XCTAssertTrue(done.isComplete)
        XCTAssertEqual(done.hash.hexDigest(), Digest.hex(Digest.sha256(data)))
        guard case .copy(let source) = try uploads.content(of: done) else { return XCTFail("not a copy") }
        let key = "user_recordings/alice/s1/audio.wav"
        _ = try store.copy(source, to: key, contentType: "audio/wav", condition: .createOnly)
        XCTAssertEqual(try store.get(key: key).bytes, data)
        XCTAssertThrowsError(try store.copy(source, to: key, contentType: "audio/wav", condition: .createOnly)) {
            XCTAssertEqual($0 as? StorageError, .alreadyExists(key))
        }
        try uploads.remove(id: record.id)
        XCTAssertEqual(try keys("tus_uploads/" + record.id), "[]")
        XCTAssertEqual(try multipartUploads("tus_uploads/" + record.id), "0")
    }

    func testCopyAboveTheSingleCopyLimitGoesInParts() throws {
        var options = S3Options()
        options.singleCopyLimit = 6 * Int64(MiB)
        options.copyPartSize = 5 * Int64(MiB)
        let store = moto.store(options: options)
        let data = content(11 * MiB + 3, seed: 9)
        _ = try store.put(key: "tus_uploads/copy-source/data", bytes: data, contentType: "application/octet-stream", condition: .none)
        let source = StoredCopySource(store: .s3, key: "tus_uploads/copy-source/data", size: Int64(data.count),
                                      sha256: Digest.hex(Digest.sha256(data)))
        let info = try store.copy(source, to: "user_recordings/alice/s2/audio.wav", contentType: "audio/wav", condition: .createOnly)
        XCTAssertEqual(info.size, Int64(data.count))
        XCTAssertEqual(try store.get(key: "user_recordings/alice/s2/audio.wav").bytes, data)
        XCTAssertEqual(try multipartUploads("user_recordings/alice/s2/"), "0")
    }

    func testARacingAppendIsBusyAndExpiredUploadsAreSwept() throws {
        let uploads = S3UploadStore(store: moto.store(), stagingDirectory: staging)
        let record = UploadRecord(id: UploadID.make(), owner: "alice", length: 10, metadata: nil,
                                  created: now, expires: now.addingTimeInterval(60))
        try uploads.create(record)
        var inner: Error?
        var first = true
        _ = try uploads.append(id: record.id, owner: "alice", at: 0, now: now, expires: now.addingTimeInterval(60)) { _ in
            if first {
                first = false
                do {
                    _ = try uploads.append(id: record.id, owner: "alice", at: 0, now: self.now, expires: self.now,
                                           readBody: self.body([1][...]))
                } catch { inner = error }
            }
            return 0
        }
        XCTAssertEqual(inner as? UploadRefusal, .busy)
        XCTAssertEqual(try uploads.sweep(now: now.addingTimeInterval(61)), 1)
        XCTAssertNil(try uploads.record(id: record.id))
        XCTAssertEqual(try keys("tus_uploads/" + record.id), "[]")
        XCTAssertEqual(try multipartUploads("tus_uploads/" + record.id), "0")
    }
}
