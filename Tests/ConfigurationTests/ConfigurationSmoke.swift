import XCTest
@testable import Configuration

final class ConfigurationSmokeTests: XCTestCase {
    func testModuleLoads() { XCTAssertTrue(true) }
}
