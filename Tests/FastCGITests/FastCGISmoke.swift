import XCTest
@testable import FastCGI

final class FastCGISmokeTests: XCTestCase {
    func testModuleLoads() { XCTAssertTrue(true) }
}
