import XCTest
@testable import Storage

final class StorageSmokeTests: XCTestCase {
    func testModuleLoads() { XCTAssertTrue(true) }
}
