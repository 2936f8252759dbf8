import XCTest
@testable import RecstoreConfiguration

/// The S3 deadlines, breaker and sweep block.
final class ResilienceConfigurationTests: XCTestCase {
    let auth = ["AUTH0_DOMAIN": "tenant.eu.auth0.com", "AUTH0_AUDIENCE": "https://api.example"]

    func testDefaults() throws {
        let c = try Configuration.load(auth)
        XCTAssertEqual(c.s3.saveBudgetSeconds, 20)
        XCTAssertEqual(c.s3.readBudgetSeconds, 5)
        XCTAssertEqual(c.s3.connectTimeoutSeconds, 3)
        XCTAssertEqual(c.s3.lowSpeedSeconds, 10)
        XCTAssertEqual(c.s3.maxAttempts, 4)
        XCTAssertEqual(c.s3.breakerFailures, 5)
        XCTAssertEqual(c.s3.breakerCooldownSeconds, 30)
        XCTAssertEqual(c.retention.orphanAgeSeconds, 300)
        XCTAssertEqual(c.retention.sweepIntervalSeconds, 600)
    }

    func testValuesAreReadAndBadOnesNamed() throws {
        let c = try Configuration.load(auth.merging(["S3_SAVE_BUDGET_SECONDS": "3", "S3_READ_BUDGET_SECONDS": "2",
                                                      "S3_BREAKER_FAILURES": "0", "SWEEP_INTERVAL_SECONDS": "0",
                                                      "ORPHAN_AGE_SECONDS": "2"]) { $1 })
        XCTAssertEqual(c.s3.saveBudgetSeconds, 3)
        XCTAssertEqual(c.s3.readBudgetSeconds, 2)
        XCTAssertEqual(c.s3.breakerFailures, 0, "0: the breaker never opens")
        XCTAssertEqual(c.retention.sweepIntervalSeconds, 0, "0: no sweep")
        XCTAssertEqual(c.retention.orphanAgeSeconds, 2)
        for (name, value) in [("S3_SAVE_BUDGET_SECONDS", "0"), ("S3_READ_BUDGET_SECONDS", "fast"), ("S3_MAX_ATTEMPTS", "11"),
                              ("S3_BREAKER_COOLDOWN_SECONDS", "-1"), ("ORPHAN_AGE_SECONDS", "0")] {
            XCTAssertThrowsError(try Configuration.load(auth.merging([name: value]) { $1 }), name) {
                XCTAssertEqual(($0 as? ConfigurationError)?.variable, name)
            }
        }
    }
}
