import Foundation
import Storage
import XCTest
@testable import S3
import Digests

/// Every `ObjectStore` operation against a stock moto_server with signature checks on
/// (up to 5.2.3 it verifies its decoded URL, not the request as sent: see `SigningForm`;
/// later versions as AWS does), for a key of the layout with every character ids may hold.
final class StockMotoTests: XCTestCase {
    nonisolated(unsafe) static var moto: MotoServer!

    override class func setUp() {
        super.setUp()
        moto = try! MotoServer(bucket: "recstore-stock", stock: true)
    }

    override class func tearDown() {
        moto.stop()
        moto = nil
        super.tearDown()
    }

    var moto: MotoServer { Self.moto }
    let folder = "user_recordings/auth0|alice+x@y.z/20261121T233339Z-1a2b3c4d/"

    func testEveryOperation() throws {
        let store = moto.store()
        let metadata = folder + "session_metadata.json"
        let first = try store.put(key: metadata, bytes: Array("{}".utf8), contentType: "application/json", condition: .createOnly)
        XCTAssertEqual(store.client.signingForms?.first, moto.learnedForm, "learned from the first refusal, if any")
        XCTAssertThrowsError(try store.put(key: metadata, bytes: [1], contentType: "application/json", condition: .createOnly)) {
            XCTAssertEqual($0 as? StorageError, .alreadyExists(metadata))
        }
        XCTAssertThrowsError(try store.put(key: metadata, bytes: [1], contentType: "application/json", condition: .ifMatch("0000"))) {
            XCTAssertEqual($0 as? StorageError, .preconditionFailed(metadata))
        }
        let second = try store.put(key: metadata, bytes: Array("{\"a\":1}".utf8), contentType: "application/json", condition: .ifMatch(first.etag))
        XCTAssertEqual(try store.get(key: metadata).bytes, Array("{\"a\":1}".utf8))
        XCTAssertEqual(try store.head(key: metadata)?.etag, second.etag)
        XCTAssertNil(try store.head(key: folder + "none.json"))
        XCTAssertThrowsError(try store.get(key: folder + "none.json")) {
            XCTAssertEqual($0 as? StorageError, .notFound(folder + "none.json"))
        }

        let (file, content) = try stagedFile(size: 200_000)
        defer { try? FileManager.default.removeItem(atPath: file.path) }
        let audio = folder + "audio.wav"
        XCTAssertEqual(try store.put(key: audio, file: file, contentType: "audio/wav", condition: .createOnly).size, 200_000)
        var part: [UInt8] = []
        try store.read(key: audio, range: ByteRange(first: 1000, last: 1999)) { part += $0 }
        XCTAssertEqual(part, Array(content[1000...1999]))
        var whole: [UInt8] = []
        try store.read(key: audio, range: nil) { whole += $0 }
        XCTAssertEqual(whole, content)

        let many = store.getMany(keys: [metadata, folder + "none.json"])
        XCTAssertEqual(try many[metadata]?.get(), Array("{\"a\":1}".utf8))
        if case .failure(.notFound) = many[folder + "none.json"] {} else { XCTFail("\(String(describing: many[folder + "none.json"]))") }

        XCTAssertEqual(try store.list(prefix: folder).map(\.key), [audio, metadata])
        XCTAssertEqual(try store.delete(prefix: folder), 2)
        XCTAssertEqual(try store.list(prefix: "user_recordings/auth0|alice+x@y.z/").count, 0)
    }

    /// A fresh store whose first call is a batch of reads, and another whose first is a listing.
    func testFirstCallsOfEachKindFallBack() throws {
        let key = folder + "transcript.txt"
        _ = try moto.store().put(key: key, bytes: Array("hi".utf8), contentType: "text/plain", condition: .none)
        let fresh = moto.store()
        XCTAssertEqual(try fresh.getMany(keys: [key])[key]?.get(), Array("hi".utf8))
        XCTAssertEqual(fresh.client.signingForms?.first, moto.learnedForm)
        XCTAssertEqual(try moto.store().list(prefix: folder).map(\.key), [key])
        XCTAssertEqual(try moto.store().head(key: key)?.size, 2)
        XCTAssertEqual(try moto.store().delete(prefix: folder), 1)
    }

    func testListingPaginates() throws {
        let prefix = "user_recordings/auth0|pages+x@y.z/"
        let store = moto.store()
        for i in 0..<5 {
            _ = try store.put(key: prefix + "s\(i)/session_metadata.json", bytes: [1], contentType: "application/json", condition: .none)
        }
        var keys: [String] = []
        var token: String?
        var pages = 0
        repeat {
            let page = try store.listPage(prefix: prefix, continuationToken: token, maxKeys: 2)
            keys += page.objects.map(\.key)
            token = page.next
            pages += 1
        } while token != nil
        XCTAssertEqual(pages, 3)
        XCTAssertEqual(keys, (0..<5).map { prefix + "s\($0)/session_metadata.json" })
        XCTAssertEqual(try store.delete(prefix: prefix), 5)
    }

    func testMultipartUpload() throws {
        var options = S3Options()
        options.multipartThreshold = 5 * 1024 * 1024
        options.partSize = 5 * 1024 * 1024
        options.partConcurrency = 2
        let store = moto.store(options: options)
        let (file, content) = try stagedFile(size: 11 * 1024 * 1024 + 7)
        defer { try? FileManager.default.removeItem(atPath: file.path) }
        let key = folder + "big/audio.wav"
        let info = try store.put(key: key, file: file, contentType: "audio/wav", condition: .createOnly)
        XCTAssertTrue(info.etag.hasSuffix("-3"), info.etag)
        XCTAssertEqual(try store.get(key: key).bytes, content)
        XCTAssertEqual(try moto.boto("print(len(s3.list_multipart_uploads(Bucket=bucket).get('Uploads', [])))"), "0")
        XCTAssertEqual(try store.delete(prefix: folder + "big/"), 1)
    }

    /// Both forms fail with a wrong secret: the error still names the refusal.
    func testWrongSecretIsStillRefused() throws {
        let bad = moto.store(secret: "not-the-secret")
        let key = folder + "session_metadata.json"
        XCTAssertThrowsError(try bad.put(key: key, bytes: [1], contentType: "application/json", condition: .none)) {
            guard case .unavailable(let failure) = $0 as? StorageError else { return XCTFail("\($0)") }; let reason = failure.reason
            XCTAssertTrue(reason.contains("403 SignatureDoesNotMatch"), reason)
        }
        XCTAssertThrowsError(try bad.list(prefix: folder)) {
            guard case .unavailable(let failure) = $0 as? StorageError else { return XCTFail("\($0)") }; let reason = failure.reason
            XCTAssertTrue(reason.contains("403 SignatureDoesNotMatch"), reason)
        }
        XCTAssertThrowsError(try bad.head(key: key))
        XCTAssertThrowsError(try bad.get(key: key))
        if case .failure(.unavailable) = bad.getMany(keys: [key])[key] {} else { XCTFail("getMany with a wrong secret") }
        XCTAssertEqual(bad.client.signingForms?.first, .aws, "nothing was accepted")
        XCTAssertNil(try moto.store().head(key: key), "nothing was written")
    }

    func stagedFile(size: Int) throws -> (StagedFile, [UInt8]) {
        var content = [UInt8](repeating: 0, count: size)
        for i in 0..<size { content[i] = UInt8(truncatingIfNeeded: i &* 7 &+ i >> 9) }
        let path = NSTemporaryDirectory() + "s3stock-\(UUID().uuidString)"
        try Data(content).write(to: URL(fileURLWithPath: path))
        return (StagedFile(path: path, size: Int64(size), sha256: Digest.hex(Digest.sha256(content))), content)
    }
}
