import XCTest
@testable import HTTP

final class HTTPSmokeTests: XCTestCase {
    func testModuleLoads() { XCTAssertTrue(true) }
}
