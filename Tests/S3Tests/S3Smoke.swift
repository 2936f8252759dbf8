import XCTest
@testable import S3

final class S3SmokeTests: XCTestCase {
    func testModuleLoads() { XCTAssertTrue(true) }
}
