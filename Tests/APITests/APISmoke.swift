import XCTest
@testable import API

final class APISmokeTests: XCTestCase {
    func testModuleLoads() { XCTAssertTrue(true) }
}
