import API
import Auth
import Operations
import RecstoreConfiguration
import S3
import Storage
import XCTest

/// The one mapping from the configuration to each module's options and stores.
final class ModuleOptionsTests: XCTestCase {
    let identity = ["AUTH0_ISSUER": "https://i.test/", "AUTH0_AUDIENCE": "a", "AUTH0_JWKS_FILE": "/dev/null"]

    func load(_ extra: [String: String]) throws -> Configuration {
        try Configuration.load(identity.merging(extra) { $1 })
    }

    func testStoreConfigurationFromModes() {
        let directory = TestDirectory()
        let local = LocalStore(root: directory.path + "/local")
        let s3 = BucketDouble(LocalStore(root: directory.path + "/s3"))
        var c = Configuration()
        let plain = StorageService(configuration: c, local: local, s3: nil)
        XCTAssertEqual(plain.stores.map(\.kind), [.local])
        let withBucket = StorageService(configuration: c, local: local, s3: s3)
        XCTAssertEqual(withBucket.stores.map(\.kind), [.local, .s3])
        XCTAssertNil(withBucket.fallback)
        c.storage.mode = .s3
        let s3Mode = StorageService(configuration: c, local: local, s3: s3)
        XCTAssertEqual(s3Mode.stores.map(\.kind), [.s3, .local])
        XCTAssertEqual(s3Mode.fallbackIndex, 1)
        c.storage.fallbackToLocal = false
        XCTAssertNil(StorageService(configuration: c, local: local, s3: s3).fallback)
    }

    func testTheRoutesGetTheirSettings() throws {
        let defaults = APIOptions(try load([:]))
        XCTAssertFalse(defaults.savesToS3)
        XCTAssertNil(defaults.bucket)
        XCTAssertEqual(defaults.retentionDays, 15)
        XCTAssertEqual(defaults.maxUploadBytes, 536_870_912)
        XCTAssertEqual(defaults.saveBudgetSeconds, 20)
        XCTAssertEqual(defaults.readBudgetSeconds, 5)
        XCTAssertTrue(defaults.redirectsAudioToS3)
        XCTAssertTrue(defaults.operationsAllowFrom.contains { $0.contains("127.0.0.1") })
        XCTAssertFalse(defaults.operationsAllowFrom.contains { $0.contains("10.0.0.1") })

        let set = APIOptions(try load([
            "STORAGE": "S3", "AWS_S3_BUCKET_NAME": "recs", "AWS_REGION": "eu-west-1", "S3_FALLBACK_TO_LOCAL": "no",
            "RETENTION_DAYS": "3", "MAX_UPLOAD_BYTES": "4096", "UPLOAD_EXPIRY_SECONDS": "60",
            "S3_SAVE_BUDGET_SECONDS": "7", "S3_READ_BUDGET_SECONDS": "2", "S3_PRESIGN_SECONDS": "30",
            "AWS_ENDPOINT_URL_S3": "http://127.0.0.1:9000", "OPERATIONS_ALLOW_FROM": "10.0.0.0/8",
        ]))
        XCTAssertTrue(set.savesToS3)
        XCTAssertEqual(set.bucket, "recs")
        XCTAssertEqual(set.region, "eu-west-1")
        XCTAssertFalse(set.fallbackToLocal)
        XCTAssertEqual(set.retentionDays, 3)
        XCTAssertEqual(set.maxUploadBytes, 4096)
        XCTAssertEqual(set.uploadExpirySeconds, 60)
        XCTAssertEqual(set.saveBudgetSeconds, 7)
        XCTAssertEqual(set.readBudgetSeconds, 2)
        XCTAssertEqual(set.presignSeconds, 30)
        XCTAssertFalse(set.redirectsAudioToS3, "auto streams from a custom endpoint")
        XCTAssertTrue(set.operationsAllowFrom.contains { $0.contains("10.0.0.1") })
        XCTAssertFalse(set.operationsAllowFrom.contains { $0.contains("127.0.0.1") })
    }

    func testTheBucketGetsItsSettings() throws {
        let o = S3Options(try load(["S3_CONNECT_TIMEOUT_SECONDS": "7", "S3_MAX_ATTEMPTS": "2", "S3_BREAKER_FAILURES": "0",
                                    "S3_PART_SIZE": "10485760", "ORPHAN_AGE_SECONDS": "100000", "UPLOAD_EXPIRY_SECONDS": "864000"]))
        XCTAssertEqual(o.connectTimeout, 7)
        XCTAssertEqual(o.retry.maxAttempts, 2)
        XCTAssertEqual(o.breakerThreshold, 0)
        XCTAssertEqual(o.partSize, 10_485_760)
        XCTAssertEqual(o.staleRecordingUploadSeconds, 100_010)
        XCTAssertEqual(o.staleOtherUploadSeconds, 1_728_000)
    }

    func testTheAuthenticatorGetsTheIdentity() throws {
        let o = AuthOptions(try load(["JWT_ALGORITHMS": "RS256,RS512", "JWKS_TTL_SECONDS": "60"]).identity)
        XCTAssertEqual(o, AuthOptions(issuer: "https://i.test/", audience: "a", algorithms: ["RS256", "RS512"],
                                      jwksSource: .file("/dev/null"), jwksTTLSeconds: 60))
    }
}
