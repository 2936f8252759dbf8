import XCTest
@testable import JSON

final class JSONParserTests: XCTestCase {
    func parse(_ text: String) throws -> JSON { try JSON.parse(text) }

    func testValues() throws {
        XCTAssertEqual(try parse("null"), .null)
        XCTAssertEqual(try parse(" true "), .bool(true))
        XCTAssertEqual(try parse("false"), .bool(false))
        XCTAssertEqual(try parse(#""hi""#), .string("hi"))
        XCTAssertEqual(try parse("[1, [], {}]"), .array([.number("1"), .array([]), .object(JSONObject())]))
        let object = try parse(#"{"a": {"b": [null]}}"#)
        XCTAssertEqual(object["a"]?["b"], .array([.null]))
    }

    func testObjectKeysKeepTheirOrderAndTheLastDuplicateWinsInPlace() throws {
        let object = try XCTUnwrap(try parse(#"{"z": 1, "a": 2, "m": 3, "a": 4}"#).objectValue)
        XCTAssertEqual(object.keys, ["z", "a", "m"])
        XCTAssertEqual(object["a"], .number("4"))
        XCTAssertEqual(JSON.object(object).serialized(), #"{"z":1,"a":4,"m":3}"#)
    }

    func testNumbersKeepTheirText() throws {
        for text in ["0", "-0", "61.50", "12345678901234567890", "1e5", "1E-5", "-2.5e+10"] {
            XCTAssertEqual(try parse(text), .number(text))
            XCTAssertEqual(try parse(text).serialized(), text)
        }
        XCTAssertEqual(try parse("61.5").doubleValue, 61.5)
    }

    func testEscapes() throws {
        XCTAssertEqual(try parse(#""a\"b\\c\/d\n\t\r\b\f""#), .string("a\"b\\c/d\n\t\r\u{8}\u{C}"))
        XCTAssertEqual(try parse(#""\u00e9\u00E9""#), .string("éé"))
        XCTAssertEqual(try parse(#""\ud83d\ude00""#), .string("😀"))
        XCTAssertEqual(try JSON.parse(Array(#""é 😀""#.utf8)), .string("é 😀"))
    }

    func testRefusesWhatIsNotStrictJSON() {
        let bad = ["", " ", "01", "1.", ".5", "+1", "-", "1e", "NaN", "Infinity", "-Infinity", "{} x", "[1,]", #"{"a":1,}"#,
                   "{'a':1}", #"{"a"}"#, #"{"a":}"#, #"{1:2}"#, "[1 2]", "tru", "nul", #""abc"#, "\"a\u{1}b\"", #""\x""#,
                   #""\u12""#, #""\ud800""#, #""\ud800\u0041""#, #""\udc00""#, "[", "{", "// c\n1", "1 // c"]
        for text in bad {
            XCTAssertThrowsError(try JSON.parse(text), "accepted: \(text.debugDescription)")
        }
    }

    func testRefusesInvalidUTF8() {
        XCTAssertThrowsError(try JSON.parse([0x22, 0xFF, 0x22]))
        XCTAssertThrowsError(try JSON.parse([0x22, 0xC3, 0x22]))
        XCTAssertThrowsError(try JSON.parse([0x22, 0xED, 0xA0, 0x80, 0x22])) // an encoded surrogate
    }

    func testNestingLimit() throws {
        XCTAssertNoThrow(try JSON.parse(Array((String(repeating: "[", count: 50) + String(repeating: "]", count: 50)).utf8), maxDepth: 50))
        XCTAssertThrowsError(try JSON.parse(Array((String(repeating: "[", count: 51) + String(repeating: "]", count: 51)).utf8), maxDepth: 50))
        // The default limit stops a hostile document long before the stack does.
        XCTAssertThrowsError(try JSON.parse(Array(String(repeating: "[", count: 100_000).utf8)))
    }

    func testErrorsSayWhere() {
        XCTAssertThrowsError(try JSON.parse("[1, x]")) { error in
            XCTAssertEqual((error as? JSONParseError)?.offset, 4)
            XCTAssertTrue(String(describing: error).contains("byte 4"))
        }
    }
}
