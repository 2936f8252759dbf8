import Foundation
import Operations
import XCTest

/// `recstore check` without a bucket or a network: the lines it prints and what counts as failed.
final class ConfigurationCheckTests: XCTestCase {
    func run(_ environment: [String: String]) -> (lines: [String], failures: Int) {
        var lines: [String] = []
        var check = ConfigurationCheck { lines.append($0) }
        check.run(environment: environment)
        return (lines, check.failures)
    }

    func testAConfigurationErrorIsTheOnlyLine() {
        let (lines, failures) = run(["STORAGE": "SOMEWHERE"])
        XCTAssertEqual(failures, 1)
        XCTAssertEqual(lines.count, 1)
        XCTAssertTrue(lines[0].hasPrefix("configuration: FAILED: "), lines[0])
    }

    func testLocalStoreWorksBucketIsSkippedAndAnEmptyJWKSFails() throws {
        let directory = TestDirectory()
        let jwks = directory.path + "/jwks.json"
        try Data(#"{"keys":[]}"#.utf8).write(to: URL(fileURLWithPath: jwks))
        let (lines, failures) = run([
            "STORAGE": "LOCAL", "LOCAL_STORAGE_DIR": directory.path + "/store",
            "AUTH0_ISSUER": "https://issuer.example/", "AUTH0_AUDIENCE": "recstore", "AUTH0_JWKS_FILE": jwks,
        ])
        XCTAssertEqual(failures, 1, "\(lines)")
        XCTAssertEqual(lines.count, 5, "\(lines)")
        XCTAssertTrue(lines[0].hasPrefix("configuration: ok (STORAGE=LOCAL, local directory "), lines[0])
        XCTAssertTrue(lines[1].hasPrefix("local storage: ok ("), lines[1])
        XCTAssertTrue(lines[1].hasSuffix("a probe object was written, read back and deleted)"), lines[1])
        XCTAssertEqual(lines[2], "credentials: skipped (no bucket configured)")
        XCTAssertEqual(lines[3], "bucket: skipped (no bucket configured (AWS_S3_BUCKET_NAME is not set))")
        XCTAssertTrue(lines[4].hasPrefix("jwks: FAILED: "), lines[4])
        // The probe leaves nothing behind.
        let left = FileManager.default.enumerator(atPath: directory.path + "/store")?.allObjects as? [String] ?? []
        XCTAssertFalse(left.contains { $0.contains("probe-") }, "\(left)")
    }
}
