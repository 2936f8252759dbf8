import XCTest
@testable import JSON

final class JSONSerializerTests: XCTestCase {
    func testCompactOutput() {
        let value = JSON.object(JSONObject([
            ("path", .string("a/b")), ("name", .string("café \"q\" \\")), ("n", .int(3)),
            ("list", .array([.bool(true), .null, .double(2)])), ("empty", .object(JSONObject())),
        ]))
        XCTAssertEqual(value.serialized(), #"{"path":"a/b","name":"café \"q\" \\","n":3,"list":[true,null,2.0],"empty":{}}"#)
    }

    func testControlCharactersAreEscaped() {
        XCTAssertEqual(JSON.string("a\nb\tc\r\u{8}\u{C}\u{1}\u{1F}").serialized(), #""a\nb\tc\r\b\f\u0001\u001f""#)
    }

    func testDoubles() {
        XCTAssertEqual(JSON.double(61.5).serialized(), "61.5")
        XCTAssertEqual(JSON.double(2).serialized(), "2.0")
        XCTAssertEqual(JSON.double(.infinity), .null)
        XCTAssertEqual(JSON.double(.nan), .null)
    }

    func testPrettyOutput() {
        let value = JSON.object(JSONObject([("a", .array([.int(1), .int(2)])), ("b", .object(JSONObject([("c", .null)]))), ("d", .array([]))]))
        XCTAssertEqual(value.serialized(pretty: true), """
            {
              "a": [
                1,
                2
              ],
              "b": {
                "c": null
              },
              "d": []
            }
            """)
    }

    func testRoundTrip() throws {
        let text = #"{"session_id":"20261121T233339Z-1a2b3c4d","user_id":"auth0|abc","duration":61.50,"tags":["work","é"],"x":{"y":[1,-0.5e3,null]}}"#
        XCTAssertEqual(try JSON.parse(text).serialized(), text)
        XCTAssertEqual(try JSON.parse(JSON.parse(text).serialized(pretty: true)), try JSON.parse(text))
    }

    func testObjectEditing() {
        var object = JSONObject([("a", .int(1)), ("b", .int(2))])
        object["a"] = .int(3)
        object["c"] = .int(4)
        object["b"] = nil
        XCTAssertEqual(object.keys, ["a", "c"])
        XCTAssertEqual(object.count, 2)
        XCTAssertEqual(JSON.object(object).serialized(), #"{"a":3,"c":4}"#)
        XCTAssertEqual(JSONObject([("a", .int(1)), ("b", .int(2))]), JSONObject([("b", .int(2)), ("a", .int(1))]))
    }
}
