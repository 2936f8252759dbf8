import XCTest
@testable import RecstoreConfiguration

final class ConfigurationTests: XCTestCase {
    let auth = ["AUTH0_DOMAIN": "tenant.eu.auth0.com", "AUTH0_AUDIENCE": "https://api.example"]

    func load(_ extra: [String: String]) throws -> Configuration {
        try Configuration.load(auth.merging(extra) { $1 })
    }

    /// The variable a bad environment is refused for.
    func refusal(_ env: [String: String], file: StaticString = #filePath, line: UInt = #line) -> String? {
        do {
            _ = try Configuration.load(env)
            XCTFail("accepted", file: file, line: line)
            return nil
        } catch {
            return error.variable
        }
    }

    func testDefaults() throws {
        let c = try load([:])
        XCTAssertEqual(c.storage.mode, .local)
        XCTAssertEqual(c.storage.localDirectory, "./uploads")
        XCTAssertNil(c.storage.bucket)
        XCTAssertEqual(c.storage.region, "us-east-1")
        XCTAssertNil(c.storage.endpoint)
        XCTAssertTrue(c.storage.fallbackToLocal)
        XCTAssertEqual(c.identity.issuer, "https://tenant.eu.auth0.com/")
        XCTAssertEqual(c.identity.audience, "https://api.example")
        XCTAssertEqual(c.identity.jwksSource, .url("https://tenant.eu.auth0.com/.well-known/jwks.json"))
        XCTAssertEqual(c.identity.algorithms, ["RS256"])
        XCTAssertEqual(c.identity.leewaySeconds, 60)
        XCTAssertEqual(c.retention.days, 15)
        XCTAssertEqual(c.uploads.maxBytes, 536_870_912)
    }

    func testListingRecheckSeconds() throws {
        XCTAssertEqual(try load([:]).storage.listingRecheckSeconds, 1)
        XCTAssertEqual(try load(["LISTING_RECHECK_SECONDS": "0.25"]).storage.listingRecheckSeconds, 0.25)
        for bad in ["0", "-1", "soon", "86401"] {
            XCTAssertEqual(refusal(auth.merging(["LISTING_RECHECK_SECONDS": bad]) { $1 }), "LISTING_RECHECK_SECONDS", bad)
        }
    }

    func testDomainIsNormalised() throws {
        let c = try Configuration.load(["AUTH0_DOMAIN": "https://tenant.auth0.com//", "AUTH0_AUDIENCE": "a"])
        XCTAssertEqual(c.identity.issuer, "https://tenant.auth0.com/")
        XCTAssertEqual(c.identity.jwksSource, .url("https://tenant.auth0.com/.well-known/jwks.json"))
    }

    func testExplicitIssuerAndJWKSWin() throws {
        let c = try load(["AUTH0_ISSUER": "http://127.0.0.1:9999/", "AUTH0_JWKS_URL": "http://127.0.0.1:9999/jwks.json"])
        XCTAssertEqual(c.identity.issuer, "http://127.0.0.1:9999/")
        XCTAssertEqual(c.identity.jwksSource, .url("http://127.0.0.1:9999/jwks.json"))
        let f = try load(["AUTH0_JWKS_FILE": "/tmp/jwks.json", "AUTH0_JWKS_URL": "https://x/jwks.json"])
        XCTAssertEqual(f.identity.jwksSource, .file("/tmp/jwks.json"))
    }

    func testRefusesToStartOpen() {
        XCTAssertEqual(refusal([:]), "AUTH0_DOMAIN")
        XCTAssertEqual(refusal(["AUTH0_DOMAIN": "t.auth0.com"]), "AUTH0_AUDIENCE")
        XCTAssertEqual(refusal(["AUTH0_ISSUER": "https://i/", "AUTH0_AUDIENCE": "a"]), "AUTH0_JWKS_URL")
        XCTAssertEqual(refusal(["AUTH0_DOMAIN": "   ", "AUTH0_AUDIENCE": "a"]), "AUTH0_DOMAIN")
        do {
            _ = try Configuration.load(["AUTH0_AUDIENCE": "a"])
        } catch {
            XCTAssertTrue(error.description.contains("refusing to start"), error.description)
        }
    }

    func testStorageOnlyCommandsNeedNoIdentity() throws {
        let c = try Configuration.load(["STORAGE": "S3", "AWS_S3_BUCKET_NAME": "recordings", "AUTH0_AUDIENCE": "a"],
                                       requireIdentity: false)
        XCTAssertEqual(c.storage.bucket, "recordings")
        XCTAssertEqual(c.identity.issuer, "")
        XCTAssertThrowsError(try Configuration.load(["STORAGE": "S3"], requireIdentity: false))
    }

    func testJWKSURLMustBeHTTPSExceptOnLoopback() throws {
        XCTAssertEqual(refusal(auth.merging(["AUTH0_JWKS_URL": "http://example.com/jwks.json"]) { $1 }), "AUTH0_JWKS_URL")
        XCTAssertEqual(refusal(auth.merging(["AUTH0_JWKS_URL": "not a url"]) { $1 }), "AUTH0_JWKS_URL")
        XCTAssertNoThrow(try load(["AUTH0_JWKS_URL": "http://localhost:8000/jwks"]))
    }

    func testStorageSettings() throws {
        let c = try load(["STORAGE": "s3", "STUDY_BUDDY_BUCKET_NAME": "my-bucket", "AWS_DEFAULT_REGION": "eu-west-3",
                          "AWS_ENDPOINT_URL": "http://127.0.0.1:5000/", "S3_FALLBACK_TO_LOCAL": "false",
                          "LOCAL_STORAGE_DIR": "/srv/recordings"])
        XCTAssertEqual(c.storage.mode, .s3)
        XCTAssertEqual(c.storage.bucket, "my-bucket")
        XCTAssertEqual(c.storage.region, "eu-west-3")
        XCTAssertEqual(c.storage.endpoint, "http://127.0.0.1:5000")
        XCTAssertFalse(c.storage.fallbackToLocal)
        XCTAssertEqual(c.storage.localDirectory, "/srv/recordings")
        let preferred = try load(["AWS_S3_BUCKET_NAME": "first", "STUDY_BUDDY_BUCKET_NAME": "second",
                                  "AWS_REGION": "us-west-2", "AWS_DEFAULT_REGION": "eu-west-1",
                                  "AWS_ENDPOINT_URL_S3": "https://s3.example", "AWS_ENDPOINT_URL": "https://other"])
        XCTAssertEqual(preferred.storage.bucket, "first")
        XCTAssertEqual(preferred.storage.region, "us-west-2")
        XCTAssertEqual(preferred.storage.endpoint, "https://s3.example")
    }

    func testEachBadValueIsRefusedNamingItsVariable() {
        let cases: [(String, String)] = [
            ("STORAGE", "DISK"), ("AWS_S3_BUCKET_NAME", "Bad_Bucket"), ("STUDY_BUDDY_BUCKET_NAME", "ab"),
            ("AWS_REGION", "EU WEST"), ("AWS_ENDPOINT_URL_S3", "ftp://x"), ("AWS_ENDPOINT_URL", "nohost"),
            ("S3_FALLBACK_TO_LOCAL", "maybe"), ("JWT_LEEWAY_SECONDS", "-1"), ("JWT_LEEWAY_SECONDS", "abc"),
            ("RETENTION_DAYS", "0"), ("RETENTION_DAYS", "1.5"), ("MAX_UPLOAD_BYTES", "0"), ("MAX_UPLOAD_BYTES", "10MB"),
            ("JWT_ALGORITHMS", "HS256"), ("JWT_ALGORITHMS", "RS256,none"), ("S3_PRESIGN_SECONDS", "901"),
            ("S3_AUDIO_DOWNLOAD", "proxy"), ("JWKS_TTL_SECONDS", "1"),
        ]
        for (variable, value) in cases {
            XCTAssertEqual(refusal(auth.merging([variable: value]) { $1 }), variable, "\(variable)=\(value)")
        }
        XCTAssertEqual(refusal(auth.merging(["STORAGE": "S3"]) { $1 }), "AWS_S3_BUCKET_NAME")
    }

    func testAcceptedSpellings() throws {
        XCTAssertEqual(try load(["S3_FALLBACK_TO_LOCAL": "No"]).storage.fallbackToLocal, false)
        XCTAssertEqual(try load(["S3_FALLBACK_TO_LOCAL": "1"]).storage.fallbackToLocal, true)
        XCTAssertEqual(try load(["JWT_ALGORITHMS": "rs256, RS512"]).identity.algorithms, ["RS256", "RS512"])
        XCTAssertEqual(try load(["RETENTION_DAYS": " 30 "]).retention.days, 30)
        XCTAssertEqual(try load(["MAX_UPLOAD_BYTES": "1048576"]).uploads.maxBytes, 1_048_576)
        XCTAssertEqual(try load(["STORAGE": ""]).storage.mode, .local)
    }

    func testBucketNames() {
        for good in ["abc", "my-bucket.v2", String(repeating: "a", count: 63)] { XCTAssertTrue(BucketName.isValid(good), good) }
        for bad in ["ab", "-abc", "abc-", "ABC", "a_b", String(repeating: "a", count: 64)] { XCTAssertFalse(BucketName.isValid(bad), bad) }
    }
}
