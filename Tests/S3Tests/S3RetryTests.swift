import Curl
import Foundation
import Storage
import TestSupport
import XCTest
@testable import S3

/// Retries: connection failures, 5xx and 503 SlowDown are tried again with backoff;
/// other 4xx never; what stays broken becomes `.unavailable`, quickly.
final class S3RetryTests: XCTestCase {
    nonisolated(unsafe) static var server: ScriptedServer!
    override class func setUp() { super.setUp(); server = try! ScriptedServer() }
    override class func tearDown() { server.stop(); server = nil; super.tearDown() }

    func store(endpoint: String, attempts: Int = 3) -> S3Store {
        var options = S3Options()
        options.retry = RetryPolicy(maxAttempts: attempts, baseDelay: 0.02, maxDelay: 0.1)
        options.connectTimeout = 1
        return S3Store(bucket: "b-retry", region: "us-east-1", endpoint: endpoint,
                       credentials: StaticCredentialsProvider(accessKeyID: "AKID", secretAccessKey: "secret"), options: options)
    }

    func count(_ key: String) throws -> Int {
        let r = try CurlSession().perform(HTTPRequest(method: "GET", url: Self.server.base + "/count/b-retry/" + key))
        return Int(String(decoding: r.body, as: UTF8.self)) ?? -1
    }

    func testServerErrorsAreRetriedUntilTheyPass() throws {
        let s = store(endpoint: Self.server.base)
        XCTAssertEqual(try s.get(key: "status/503/2/200").bytes, Array("ok".utf8))
        XCTAssertEqual(try count("status/503/2/200"), 3)
        XCTAssertNotNil(try s.head(key: "status/500/1/200"))
        XCTAssertEqual(try count("status/500/1/200"), 2)
    }

    func testServerErrorsThatPersistAreUnavailableAfterTheLastAttempt() throws {
        let s = store(endpoint: Self.server.base)
        XCTAssertThrowsError(try s.get(key: "status/500")) {
            guard case .unavailable(let failure) = $0 as? StorageError else { return XCTFail("\($0)") }; let reason = failure.reason
            XCTAssertTrue(reason.contains("Scripted500") && reason.contains("3 attempts"), reason)
        }
        XCTAssertEqual(try count("status/500"), 3)
        let results = s.getMany(keys: ["status/502/x", "status/503/1/200/y"])
        if case .failure(.unavailable) = results["status/502/x"] {} else { XCTFail("\(results)") }
        XCTAssertEqual(try results["status/503/1/200/y"]?.get(), Array("ok".utf8))
        XCTAssertEqual(try count("status/502/x"), 3)
    }

    func testOtherClientErrorsAreNeverRetried() throws {
        let s = store(endpoint: Self.server.base)
        for code in [400, 403, 409] {
            XCTAssertThrowsError(try s.get(key: "status/\(code)")) {
                guard case .unavailable = $0 as? StorageError else { return XCTFail("\($0)") }
            }
            XCTAssertEqual(try count("status/\(code)"), 1, "\(code)")
        }
        XCTAssertThrowsError(try s.get(key: "status/404")) { XCTAssertEqual($0 as? StorageError, .notFound("status/404")) }
        XCTAssertEqual(try count("status/404"), 1)
    }

    func testStoppedServerIsUnavailableAfterBoundedRetries() throws {
        let moto = try MotoServer(bucket: "stopped-test")
        var options = S3Options()
        options.retry = RetryPolicy(maxAttempts: 3, baseDelay: 0.05, maxDelay: 0.2)
        options.connectTimeout = 1
        let s = moto.store(options: options)
        _ = try s.put(key: "user_settings/u/settings.json", bytes: [1], contentType: "application/json", condition: .none)
        XCTAssertNoThrow(try s.checkReachable())
        moto.stop()
        let start = Date()
        XCTAssertThrowsError(try s.put(key: "user_settings/u/settings.json", bytes: [2], contentType: "application/json", condition: .none)) {
            guard case .unavailable(let failure) = $0 as? StorageError else { return XCTFail("\($0)") }; let reason = failure.reason
            XCTAssertTrue(reason.contains("3 attempts"), reason)
        }
        XCTAssertThrowsError(try s.list(prefix: "user_settings/")) {
            guard case .unavailable = $0 as? StorageError else { return XCTFail("\($0)") }
        }
        XCTAssertThrowsError(try s.checkReachable())
        XCTAssertLessThan(Date().timeIntervalSince(start), 5)
        XCTAssertNil(try? s.head(key: "user_settings/u/settings.json"))
    }

    func testNoCredentialsIsUnavailable() {
        struct NoCredentials: CredentialsProvider {
            struct None: Error {}
            func credentials() throws -> AWSCredentials { throw None() }
        }
        let s = S3Store(bucket: "b-retry", region: "us-east-1", endpoint: Self.server.base, credentials: NoCredentials())
        XCTAssertThrowsError(try s.get(key: "status/200")) {
            guard case .unavailable(let failure) = $0 as? StorageError else { return XCTFail("\($0)") }; let reason = failure.reason
            XCTAssertTrue(reason.contains("no AWS credentials"), reason)
        }
        XCTAssertNil(s.presignedURL(key: "status/200", seconds: 60))
        if case .failure(.unavailable) = s.getMany(keys: ["status/200"])["status/200"] {} else { XCTFail() }
    }

    func testAddressing() {
        let aws = S3Addressing(bucket: "my-bucket", region: "eu-west-3", endpoint: nil)
        XCTAssertEqual(aws.origin + aws.path(key: "a b/c"), "https://my-bucket.s3.eu-west-3.amazonaws.com/a%20b/c")
        XCTAssertEqual(aws.host, "my-bucket.s3.eu-west-3.amazonaws.com")
        XCTAssertEqual(aws.path(key: nil), "/")
        let dotted = S3Addressing(bucket: "my.bucket", region: "us-east-1", endpoint: nil)
        XCTAssertEqual(dotted.origin + dotted.path(key: "k"), "https://s3.us-east-1.amazonaws.com/my.bucket/k")
        let custom = S3Addressing(bucket: "b", region: "us-east-1", endpoint: "http://127.0.0.1:5000/")
        XCTAssertEqual(custom.origin + custom.path(key: "x/y"), "http://127.0.0.1:5000/b/x/y")
        XCTAssertEqual(custom.host, "127.0.0.1:5000")
        XCTAssertEqual(custom.path(key: nil), "/b")
        let prefixed = S3Addressing(bucket: "b", region: "us-east-1", endpoint: "https://gw.example.com/s3")
        XCTAssertEqual(prefixed.origin + prefixed.path(key: "k"), "https://gw.example.com/s3/b/k")
    }

    func testXMLReader() throws {
        let xml = XMLReader.parse(Array("""
        <?xml version="1.0" encoding="UTF-8"?>
        <!-- comment --><ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>b</Name>
        <Contents><Key>a&amp;b &lt;&#x263A;&#65;</Key><ETag>&quot;e1&quot;</ETag><Empty/></Contents>
        <Contents><Key><![CDATA[c&d]]></Key></Contents><IsTruncated>false</IsTruncated></ListBucketResult>
        """.utf8))
        let root = try XCTUnwrap(xml)
        XCTAssertEqual(root.name, "ListBucketResult")
        XCTAssertEqual(root.all("Contents").map { $0.value("Key") }, ["a&b <☺A", "c&d"])
        XCTAssertEqual(root.all("Contents")[0].value("ETag"), "\"e1\"")
        XCTAssertEqual(root.all("Contents")[0].value("Empty"), "")
        XCTAssertNil(XMLReader.parse(Array("<a><b></a>".utf8)))
        XCTAssertNil(XMLReader.parse(Array("<a>&bogus;</a>".utf8)))
        XCTAssertNil(XMLReader.parse(Array("<a></a><b></b>".utf8)))
        XCTAssertNil(XMLReader.parse(Array("<html".utf8)))
        XCTAssertEqual(HTTPDate.parse("Sat, 21 Nov 2026 23:33:39 GMT"), Date(timeIntervalSince1970: 1_795_304_019))
        XCTAssertNil(HTTPDate.parse("yesterday"))
    }
}
