import XCTest
import HTTP

final class AddressBlockTests: XCTestCase {
    func testBlocksMatchTheirAddressesOnly() throws {
        let loopback = try XCTUnwrap(AddressBlock("127.0.0.0/8"))
        XCTAssertTrue(loopback.contains("127.0.0.1"))
        XCTAssertTrue(loopback.contains("127.255.3.4"))
        XCTAssertTrue(loopback.contains("::ffff:127.0.0.1"))
        XCTAssertFalse(loopback.contains("128.0.0.1"))
        XCTAssertFalse(loopback.contains(""))
        XCTAssertFalse(loopback.contains("not an address"))
        let one = try XCTUnwrap(AddressBlock("10.0.5.17"))
        XCTAssertTrue(one.contains("10.0.5.17"))
        XCTAssertFalse(one.contains("10.0.5.18"))
        let net = try XCTUnwrap(AddressBlock("10.0.4.0/23"))
        XCTAssertTrue(net.contains("10.0.5.200"))
        XCTAssertFalse(net.contains("10.0.6.1"))
        let v6 = try XCTUnwrap(AddressBlock("::1"))
        XCTAssertTrue(v6.contains("::1"))
        XCTAssertFalse(v6.contains("127.0.0.1"))
        XCTAssertNil(AddressBlock("10.0.0.0/33"))
        XCTAssertNil(AddressBlock("example.com"))
    }
}
