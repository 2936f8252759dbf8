import XCTest
@testable import Diagnostics

final class LogValueTests: XCTestCase {
    func written(_ value: LogValue) -> String {
        var line: [UInt8] = []
        value.write(to: &line)
        return String(decoding: line, as: UTF8.self)
    }

    func testNumbersAreWrittenAsJSONNumbers() {
        for n in [0, 7, 10, -1, -10, 1234567890, Int.max, Int.min] {
            XCTAssertEqual(written(.int(n)), String(n))
        }
        XCTAssertEqual(written(.double(2.5)), "2.5")
        XCTAssertEqual(written(.double(.infinity)), "null")
        XCTAssertEqual(written(.double(.nan)), "null")
    }

    func testStringsAreEscapedAndBooleansBare() {
        XCTAssertEqual(written(.string("a\"b\n")), "\"a\\\"b\\n\"")
        XCTAssertEqual(written(.bool(true)), "true")
        XCTAssertEqual(written(.bool(false)), "false")
    }

    func testUntypedFieldsKeepTheirType() {
        XCTAssertEqual(LogValue("x" as Any), .string("x"))
        XCTAssertEqual(LogValue(3 as Any), .int(3))
        XCTAssertEqual(LogValue(Int64(-4) as Any), .int(-4))
        XCTAssertEqual(LogValue(UInt64(5) as Any), .int(5))
        XCTAssertEqual(LogValue(UInt64.max as Any), .string("18446744073709551615"))
        XCTAssertEqual(LogValue(1.5 as Any), .double(1.5))
        XCTAssertEqual(LogValue(true as Any), .bool(true))
        XCTAssertEqual(LogValue([1, 2] as Any), .string("[1, 2]"))
    }
}
