import Hex
import XCTest

final class HexTests: XCTestCase {
    func testEncodesBytesInLowercasePairs() {
        XCTAssertEqual(Hex.encode([0x00, 0x0f, 0xa5, 0xff]), "000fa5ff")
        XCTAssertEqual(Hex.encode([UInt8]()), "")
    }

    func testPaddedKeepsLeadingZerosToTheTypesWidth() {
        XCTAssertEqual(Hex.encode(padded: UInt64(0x1f)), "000000000000001f")
        XCTAssertEqual(Hex.encode(padded: UInt32.max), "ffffffff")
        XCTAssertEqual(Hex.encode(padded: UInt32(0)), "00000000")
    }

    func testAppendsEitherCase() {
        var out: [UInt8] = []
        Hex.append(0xab, to: &out)
        Hex.append(0xab, to: &out, uppercase: true)
        XCTAssertEqual(String(decoding: out, as: UTF8.self), "abAB")
    }

    func testReadsDigitsOfEitherCaseAndNothingElse() {
        for (i, c) in "0123456789abcdef".utf8.enumerated() { XCTAssertEqual(Hex.value(c), UInt8(i)) }
        for (i, c) in "ABCDEF".utf8.enumerated() { XCTAssertEqual(Hex.value(c), UInt8(10 + i)) }
        for c in "gG/:@`% ".utf8 { XCTAssertNil(Hex.value(c)) }
    }
}
