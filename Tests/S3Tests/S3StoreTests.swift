import Foundation
import Storage
import XCTest
@testable import S3
import Digests

/// Every `ObjectStore` method of `S3Store` against a real S3 API (moto) that checks signatures.
final class S3StoreTests: XCTestCase {
    nonisolated(unsafe) static var moto: MotoServer!

    override class func setUp() {
        super.setUp()
        moto = try! MotoServer()
    }

    override class func tearDown() {
        moto.stop()
        moto = nil
        super.tearDown()
    }

    var moto: MotoServer { Self.moto }
    lazy var store = moto.store()

    func testPutGetHeadBytes() throws {
        let key = "user_settings/auth0|abc/settings.json"
        let body = Array("{\"macro_phrases\":[]}".utf8)
        let put = try store.put(key: key, bytes: body, contentType: "application/json", condition: .none)
        XCTAssertEqual(put.size, Int64(body.count))
        XCTAssertFalse(put.etag.isEmpty)
        XCTAssertFalse(put.etag.contains("\""))
        let (bytes, info) = try store.get(key: key)
        XCTAssertEqual(bytes, body)
        XCTAssertEqual(info.etag, put.etag)
        XCTAssertEqual(info.size, Int64(body.count))
        XCTAssertLessThan(abs(info.lastModified.timeIntervalSinceNow), 120)
        XCTAssertEqual(try store.head(key: key)?.etag, put.etag)
        XCTAssertNil(try store.head(key: "user_settings/nobody/settings.json"))
        XCTAssertThrowsError(try store.get(key: "user_settings/nobody/settings.json")) {
            XCTAssertEqual($0 as? StorageError, .notFound("user_settings/nobody/settings.json"))
        }
        XCTAssertEqual(try moto.boto("print(s3.get_object(Bucket=bucket, Key=\(pyString(key)))['ContentType'])"), "application/json")
    }

    func testCreateOnlyAndIfMatch() throws {
        let key = "user_recordings/u1/s-create/session_metadata.json"
        let first = try store.put(key: key, bytes: [1], contentType: "application/json", condition: .createOnly)
        XCTAssertThrowsError(try store.put(key: key, bytes: [2], contentType: "application/json", condition: .createOnly)) {
            XCTAssertEqual($0 as? StorageError, .alreadyExists(key))
        }
        XCTAssertEqual(try store.get(key: key).bytes, [1])
        XCTAssertThrowsError(try store.put(key: key, bytes: [3], contentType: "application/json", condition: .ifMatch("0123"))) {
            XCTAssertEqual($0 as? StorageError, .preconditionFailed(key))
        }
        let second = try store.put(key: key, bytes: [4], contentType: "application/json", condition: .ifMatch(first.etag))
        XCTAssertNotEqual(second.etag, first.etag)
        XCTAssertEqual(try store.get(key: key).bytes, [4])
        XCTAssertThrowsError(try store.put(key: "user_settings/none/settings.json", bytes: [5], contentType: "application/json",
                                           condition: .ifMatch(first.etag))) {
            XCTAssertEqual($0 as? StorageError, .preconditionFailed("user_settings/none/settings.json"))
        }
    }

    /// The server's own conditional check (If-None-Match: *), without our HEAD before it.
    func testServerHonoursIfNoneMatch() throws {
        let key = "user_recordings/u1/s-inm/audio.wav"
        _ = try store.put(key: key, bytes: [1], contentType: "audio/wav", condition: .none)
        var r = store.request("PutObject", "PUT", key: key)
        r.body = .bytes([2])
        r.payloadHash = Digest.hex(Digest.sha256([2]))
        r.headers = store.conditionHeaders(.createOnly)
        XCTAssertEqual(try store.client.send(r, session: store.session).response.status, 412)
    }

    func testStreamedFilePutAndRangedRead() throws {
        let (file, content) = try stagedFile(size: 300_000)
        defer { try? FileManager.default.removeItem(atPath: file.path) }
        let key = "user_recordings/auth0|abc/s-file/audio.wav"
        let info = try store.put(key: key, file: file, contentType: "audio/wav", condition: .createOnly)
        XCTAssertEqual(info.size, 300_000)
        var whole: [UInt8] = []
        try store.read(key: key, range: nil) { whole += $0 }
        XCTAssertEqual(whole, content)
        var part: [UInt8] = []
        try store.read(key: key, range: ByteRange(first: 1000, last: 1999)) { part += $0 }
        XCTAssertEqual(part, Array(content[1000...1999]))
        XCTAssertThrowsError(try store.read(key: "user_recordings/auth0|abc/s-file/none.wav", range: nil) { _ in }) {
            XCTAssertEqual($0 as? StorageError, .notFound("user_recordings/auth0|abc/s-file/none.wav"))
        }
    }

    func testAwkwardKeys() throws {
        let keys = ["user_recordings/a b/s/x.txt", "user_recordings/auth0|5f7c/s/x.txt", "user_recordings/a+b@c/s/x.txt",
                    "user_recordings/100%/s/x.txt", "user_recordings/ünï€😀/s/x.txt", "user_recordings/~t.i_l-de/s/x.txt",
                    "user_recordings/q?h#e=&/s/x.txt"]
        for key in keys {
            _ = try store.put(key: key, bytes: Array(key.utf8), contentType: "text/plain", condition: .createOnly)
            XCTAssertEqual(try store.get(key: key).bytes, Array(key.utf8), key)
            XCTAssertEqual(try store.list(prefix: String(key.dropLast("x.txt".count))).map(\.key), [key])
            let url = try XCTUnwrap(store.presignedURL(key: key, seconds: 60))
            XCTAssertEqual(try fetch(url), Array(key.utf8), key)
        }
        // Stored under exactly these names, as another client sees them.
        let listed = try moto.boto("print(json.dumps(sorted(o['Key'] for o in s3.list_objects_v2(Bucket=bucket, Prefix='user_recordings/')['Contents'] if o['Key'].endswith('/s/x.txt'))))")
        XCTAssertEqual(try JSONSerialization.jsonObject(with: Data(listed.utf8)) as? [String], keys.sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) })
    }

    func testPresignedURLHonoursRangeAndExpires() throws {
        let key = "user_recordings/auth0|p/s/audio.wav"
        _ = try store.put(key: key, bytes: Array(0..<100), contentType: "audio/wav", condition: .none)
        let url = try XCTUnwrap(store.presignedURL(key: key, seconds: 3600))
        XCTAssertTrue(url.hasPrefix(moto.endpoint + "/recstore-test/user_recordings/auth0%7Cp/s/audio.wav?"))
        XCTAssertTrue(url.contains("X-Amz-Expires=900&"), "clamped to 15 minutes")
        XCTAssertEqual(try fetch(url, range: "bytes=10-19"), Array(10..<20))
        // A tampered URL is refused by the server.
        XCTAssertThrowsError(try fetch(url.replacingOccurrences(of: "X-Amz-Expires=900", with: "X-Amz-Expires=899")))
    }

    func testListingPaginatesBeyondOneThousandKeys() throws {
        let prefix = "user_recordings/many/"
        // Seeded through boto3 in one process: 1,234 objects.
        _ = try moto.boto("""
        from concurrent.futures import ThreadPoolExecutor
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda i: s3.put_object(Bucket=bucket, Key=f"\(prefix)s{i:05d}/session_metadata.json", Body=b"{}"), range(1234)))
        s3.put_object(Bucket=bucket, Key="user_recordings/manyother/x", Body=b"x")
        """)
        var pages = 0
        var token: String?
        repeat {
            let page = try store.listPage(prefix: prefix, continuationToken: token)
            pages += 1
            token = page.next
        } while token != nil
        XCTAssertEqual(pages, 2)
        let listed = try store.list(prefix: prefix)
        XCTAssertEqual(listed.count, 1234)
        XCTAssertEqual(listed.map(\.key), (0..<1234).map { "\(prefix)s\(String(format: "%05d", $0))/session_metadata.json" })
        XCTAssertTrue(listed.allSatisfy { $0.size == 2 && !$0.etag.isEmpty })

        // One prefix delete: 1,234 objects in two DeleteObjects batches.
        XCTAssertEqual(try store.delete(prefix: prefix), 1234)
        XCTAssertEqual(try store.list(prefix: prefix).count, 0)
        XCTAssertEqual(try store.list(prefix: "user_recordings/manyother/").count, 1)
        XCTAssertEqual(try store.delete(prefix: prefix), 0)
    }

    func testDeleteSessionPrefix() throws {
        for name in ["audio.wav", "transcript.txt", "session_metadata.json"] {
            _ = try store.put(key: "user_recordings/auth0|d/s1/\(name)", bytes: [1], contentType: "text/plain", condition: .none)
        }
        _ = try store.put(key: "user_recordings/auth0|d/s10/audio.wav", bytes: [1], contentType: "audio/wav", condition: .none)
        XCTAssertEqual(try store.delete(prefix: "user_recordings/auth0|d/s1/"), 3)
        XCTAssertEqual(try store.list(prefix: "user_recordings/auth0|d/").map(\.key), ["user_recordings/auth0|d/s10/audio.wav"])
    }

    func testGetManyFetchesConcurrently() throws {
        var keys: [String] = []
        for i in 0..<40 {
            let key = "user_recordings/auth0|m/s\(i)/session_metadata.json"
            _ = try store.put(key: key, bytes: Array("{\"i\":\(i)}".utf8), contentType: "application/json", condition: .none)
            keys.append(key)
        }
        let results = store.getMany(keys: keys + ["user_recordings/auth0|m/none/session_metadata.json", "../escape"])
        XCTAssertEqual(results.count, 42)
        for (i, key) in keys.enumerated() {
            XCTAssertEqual(try results[key]?.get(), Array("{\"i\":\(i)}".utf8))
        }
        if case .failure(.notFound) = results["user_recordings/auth0|m/none/session_metadata.json"] {} else { XCTFail("missing key found") }
        if case .failure(.invalidKey) = results["../escape"] {} else { XCTFail("escape key accepted") }
    }

    func testInvalidKeysNeverSent() {
        for key in ["", "/abs", "a/../b", "a/./b", "a//b", "..", "a/\u{1}b", "dir/"] {
            XCTAssertThrowsError(try store.put(key: key, bytes: [1], contentType: "text/plain", condition: .none)) {
                guard case .invalidKey = $0 as? StorageError else { return XCTFail("\(key): \($0)") }
            }
        }
        XCTAssertThrowsError(try store.delete(prefix: "")) {
            guard case .invalidKey = $0 as? StorageError else { return XCTFail("\($0)") }
        }
        XCTAssertNil(store.presignedURL(key: "a/../b", seconds: 60))
    }

    func testMultipartUploadWithParallelParts() throws {
        var options = S3Options()
        options.multipartThreshold = 5 * 1024 * 1024
        options.partSize = 5 * 1024 * 1024
        options.partConcurrency = 3
        let store = moto.store(options: options)
        let (file, content) = try stagedFile(size: 17 * 1024 * 1024 + 123)
        defer { try? FileManager.default.removeItem(atPath: file.path) }
        let key = "user_recordings/auth0|big/s/audio.wav"
        let info = try store.put(key: key, file: file, contentType: "audio/wav", condition: .createOnly)
        XCTAssertEqual(info.size, Int64(content.count))
        XCTAssertTrue(info.etag.hasSuffix("-4"), "four parts: \(info.etag)")
        XCTAssertEqual(try moto.boto("""
        import hashlib
        o = s3.get_object(Bucket=bucket, Key=\(pyString(key)))
        print(hashlib.sha256(o['Body'].read()).hexdigest(), o['ContentType'], o['Metadata'].get('sha256'))
        """), "\(file.sha256) audio/wav \(file.sha256)")
        XCTAssertThrowsError(try store.put(key: key, file: file, contentType: "audio/wav", condition: .createOnly)) {
            XCTAssertEqual($0 as? StorageError, .alreadyExists(key))
        }
        XCTAssertEqual(try openUploads(), 0)
    }

    func testFailedMultipartUploadIsAborted() throws {
        var options = S3Options()
        options.multipartThreshold = 5 * 1024 * 1024
        options.partSize = 5 * 1024 * 1024
        let store = moto.store(options: options)
        let (file, _) = try stagedFile(size: 11 * 1024 * 1024)
        defer { try? FileManager.default.removeItem(atPath: file.path) }
        // The file is shorter than announced: the last part cannot be read.
        let short = StagedFile(path: file.path, size: 16 * 1024 * 1024, sha256: file.sha256)
        let key = "user_recordings/auth0|big/s-fail/audio.wav"
        XCTAssertThrowsError(try store.put(key: key, file: short, contentType: "audio/wav", condition: .createOnly)) {
            guard case .unavailable = $0 as? StorageError else { return XCTFail("\($0)") }
        }
        XCTAssertEqual(try openUploads(), 0)
        XCTAssertNil(try store.head(key: key))
    }

    /// Another writer takes the key while our parts are in flight: the server refuses
    /// the completion (If-None-Match: *), we answer `.alreadyExists` and abort.
    func testMultipartLosingTheRaceIsAbortedAsAlreadyExists() throws {
        let key = "user_recordings/auth0|race/s/audio.wav"
        let rival = moto.store()
        /// Signs like the server's key, and lets the rival write just before the completion.
        final class RaceCredentials: CredentialsProvider, @unchecked Sendable {
            let base: StaticCredentialsProvider
            let act: () -> Void
            var calls = 0
            let lock = NSLock()
            init(base: StaticCredentialsProvider, act: @escaping () -> Void) { self.base = base; self.act = act }
            func credentials() throws -> AWSCredentials {
                lock.lock(); calls += 1; let n = calls; lock.unlock()
                if n == 6 { act() }  // 1 HEAD, 2 initiate, 3-5 parts, 6 complete
                return try base.credentials()
            }
        }
        let provider = RaceCredentials(base: moto.credentials) {
            _ = try? rival.put(key: key, bytes: [9], contentType: "audio/wav", condition: .none)
        }
        var options = S3Options()
        options.multipartThreshold = 5 * 1024 * 1024
        options.partSize = 5 * 1024 * 1024
        let store = S3Store(bucket: moto.bucket, region: moto.region, endpoint: moto.endpoint, credentials: provider, options: options)
        let (file, _) = try stagedFile(size: 11 * 1024 * 1024)
        defer { try? FileManager.default.removeItem(atPath: file.path) }
        XCTAssertThrowsError(try store.put(key: key, file: file, contentType: "audio/wav", condition: .createOnly)) {
            XCTAssertEqual($0 as? StorageError, .alreadyExists(key))
        }
        XCTAssertEqual(provider.calls, 7, "the abort came after the refused completion")
        XCTAssertEqual(try store.get(key: key).bytes, [9])
        XCTAssertEqual(try openUploads(), 0)
    }

    func testWrongSecretIsUnavailable() throws {
        let bad = moto.store(secret: "not-the-secret")
        XCTAssertThrowsError(try bad.put(key: "user_settings/x/settings.json", bytes: [1], contentType: "application/json", condition: .none)) {
            guard case .unavailable(let failure) = $0 as? StorageError else { return XCTFail("\($0)") }; let reason = failure.reason
            XCTAssertTrue(reason.contains("403") && reason.contains("SignatureDoesNotMatch"), reason)
        }
        XCTAssertThrowsError(try bad.list(prefix: "user_recordings/x/"))
        XCTAssertThrowsError(try bad.checkReachable())
        XCTAssertNoThrow(try store.checkReachable())
        let results = bad.getMany(keys: ["user_settings/x/settings.json"])
        if case .failure(.unavailable) = results["user_settings/x/settings.json"] {} else { XCTFail("\(results)") }
    }

    /// This server, like AWS, verifies the request as sent: a client that prefers the
    /// decoded form (as learned from stock moto) falls back to the AWS form and keeps working.
    func testStrictServerWorksAfterTheDecodedFormWasPreferred() throws {
        let store = moto.store()
        let key = "user_recordings/auth0|strict+x@y.z/s/transcript.txt"
        func preferDecoded() { store.client.noteAccepted(.decodedURL, among: [.aws, .decodedURL]) }
        preferDecoded()
        _ = try store.put(key: key, bytes: [1, 2], contentType: "text/plain", condition: .createOnly)
        XCTAssertEqual(store.client.signingForms?.first, .aws, "relearned")
        preferDecoded()
        XCTAssertEqual(try store.head(key: key)?.size, 2)
        preferDecoded()
        XCTAssertEqual(try store.getMany(keys: [key])[key]?.get(), [1, 2])
        preferDecoded()
        XCTAssertEqual(try store.list(prefix: "user_recordings/auth0|strict+x@y.z/").map(\.key), [key])
        preferDecoded()
        XCTAssertEqual(try store.delete(prefix: "user_recordings/auth0|strict+x@y.z/"), 1)
    }

    func testMissingBucketIsUnavailable() {
        let other = S3Store(bucket: "no-such-bucket", region: moto.region, endpoint: moto.endpoint, credentials: moto.credentials)
        XCTAssertThrowsError(try other.checkReachable()) {
            guard case .unavailable = $0 as? StorageError else { return XCTFail("\($0)") }
        }
        // A create-only write into a missing bucket is the store failing (503 or the
        // fallback), never "already exists" (409).
        XCTAssertThrowsError(try other.put(key: "user_recordings/u/s/transcript.txt", bytes: [1], contentType: "text/plain",
                                           condition: .createOnly)) {
            guard case .unavailable = $0 as? StorageError else { return XCTFail("\($0)") }
        }
    }

    // MARK: Helpers

    func stagedFile(size: Int) throws -> (StagedFile, [UInt8]) {
        var content = [UInt8](repeating: 0, count: size)
        for i in 0..<size { content[i] = UInt8(truncatingIfNeeded: i &* 31 &+ i >> 8) }
        let path = NSTemporaryDirectory() + "s3test-\(UUID().uuidString)"
        FileManager.default.createFile(atPath: path, contents: Data(content))
        return (StagedFile(path: path, size: Int64(size), sha256: Digest.hex(Digest.sha256(content))), content)
    }

    func openUploads() throws -> Int {
        Int(try moto.boto("print(len(s3.list_multipart_uploads(Bucket=bucket).get('Uploads', [])))")) ?? -1
    }

    func fetch(_ url: String, range: String? = nil) throws -> [UInt8] {
        var args = ["-sS", "--fail", "-g", url]
        if let range { args += ["-H", "Range: \(range)"] }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["curl"] + args
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else { throw NSError(domain: "curl", code: Int(p.terminationStatus)) }
        return Array(data)
    }
}

func pyString(_ s: String) -> String {
    String(decoding: try! JSONSerialization.data(withJSONObject: [s], options: [.withoutEscapingSlashes]), as: UTF8.self).dropFirst().dropLast().description
}
