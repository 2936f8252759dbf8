import Foundation
import JSON
import Storage
import XCTest
@testable import API

final class ServiceRoutesTests: XCTestCase {
    func testHealthAndReadiness() {
        let h = Harness()
        XCTAssertEqual(h.send("GET", "/healthz", as: nil).status, 200)
        XCTAssertEqual(h.send("GET", "/readyz", as: nil).status, 200)
        let noKeys = Harness(authenticator: FakeAuthenticator(problem: "no JWKS key could be loaded"))
        let r = noKeys.send("GET", "/readyz", as: nil)
        XCTAssertEqual(r.status, 503)
        XCTAssertTrue(r.detail.contains("no JWKS key"), r.detail)
        XCTAssertNotNil(r.header("Retry-After"))
    }

    func testReadinessFollowsTheActiveStore() {
        var remote: DownStore!
        let h = Harness(configure: { $0.savesToS3 = true; $0.bucket = "bucket" }) { local in
            remote = DownStore(LocalStore(root: local.root + "-s3"))
            return StorageService(active: remote, others: [local], fallback: local)
        }
        XCTAssertEqual(h.send("GET", "/readyz", as: nil).status, 200)
        XCTAssertNil(h.send("GET", "/readyz", as: nil).json["warnings"])
        remote.down = true
        // With the local fallback the host can still store saves: ready, with a warning.
        let degraded = h.send("GET", "/readyz", as: nil)
        XCTAssertEqual(degraded.status, 200)
        guard case .array(let warnings)? = degraded.json["warnings"], case .string(let warning)? = warnings.first else {
            return XCTFail("\(degraded.json)")
        }
        XCTAssertTrue(warning.hasPrefix("s3 unreachable"), warning)

        var noFallback: DownStore!
        let strict = Harness(configure: { $0.savesToS3 = true; $0.bucket = "bucket"; $0.fallbackToLocal = false }) { local in
            noFallback = DownStore(LocalStore(root: local.root + "-s3"))
            return StorageService(active: noFallback, others: [local])
        }
        noFallback.down = true
        let r = strict.send("GET", "/readyz", as: nil)
        XCTAssertEqual(r.status, 503)
        XCTAssertEqual(r.detail, "Not ready: s3 unreachable.", "general words only: the store's own error text goes to the log")
        XCTAssertNotNil(r.header("Retry-After"))
    }

    func testStorageInfo() {
        let h = Harness()
        XCTAssertEqual(h.send("GET", "/api/v1/upload/storage-info", as: nil).status, 401)
        let r = h.send("GET", "/api/v1/upload/storage-info")
        XCTAssertEqual(r.status, 200)
        XCTAssertEqual(r.json["storage_mode"], .string("LOCAL"))
        XCTAssertEqual(r.json["s3_enabled"], .bool(false))
        XCTAssertEqual(r.json["bucket_name"], .null)
        XCTAssertEqual(r.json["region"], .null)

        let s3 = Harness(configure: { $0.savesToS3 = true; $0.bucket = "recs"; $0.region = "eu-west-1" }) { local in
            StorageService(active: DownStore(LocalStore(root: local.root + "-s3")), others: [local], fallback: local)
        }
        let info = s3.send("GET", "/api/v1/upload/storage-info")
        XCTAssertEqual(info.json["storage_mode"], .string("S3"))
        XCTAssertEqual(info.json["s3_enabled"], .bool(true))
        XCTAssertEqual(info.json["bucket_name"], .string("recs"))
        XCTAssertEqual(info.json["region"], .string("eu-west-1"))
    }

    func testUnknownRoutesAndMethods() {
        let h = Harness()
        XCTAssertEqual(h.send("GET", "/api/v1/nothing").status, 404)
        XCTAssertEqual(h.send("GET", "/api/v1/recordings/auth0|alice").status, 404)
        let r = h.send("PUT", "/api/v1/recordings/auth0|alice/s1")
        XCTAssertEqual(r.status, 405)
        XCTAssertEqual(r.header("Allow"), "GET, DELETE, HEAD")
        XCTAssertEqual(h.send("GET", "/api/v1/save_recording_details").status, 405)
    }
}
