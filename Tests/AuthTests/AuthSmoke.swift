import XCTest
@testable import Auth

final class AuthSmokeTests: XCTestCase {
    func testModuleLoads() { XCTAssertTrue(true) }
}
