import HTTP
import XCTest
@testable import FastCGI

final class ParametersTests: XCTestCase {
    func request(_ pairs: [(String, String)]) -> Request {
        FastCGIParameters(pairs).makeRequest(body: BufferedBody())
    }

    func testHeadersComeFromHTTPParametersAndContentParameters() {
        let r = request([("HTTP_X_FORWARDED_FOR", "1.2.3.4"), ("HTTP_AUTHORIZATION", "Bearer t"),
                         ("CONTENT_TYPE", "multipart/form-data; boundary=x"), ("CONTENT_LENGTH", "42"),
                         ("HTTP_CONTENT_TYPE", "multipart/form-data; boundary=x")])
        XCTAssertEqual(r.headers["x-forwarded-for"], "1.2.3.4")
        XCTAssertEqual(r.headers["Authorization"], "Bearer t")
        XCTAssertEqual(r.headers["Content-Length"], "42")
        XCTAssertEqual(r.headers.filter { $0.name.caseInsensitiveEquals("Content-Type") }.count, 1)
        XCTAssertEqual(FastCGIParameters.headerName(fromParameter: "HTTP_X_REQUEST_ID"), "X-Request-Id")
    }

    func testEmptyContentLengthIsNoHeader() {
        XCTAssertNil(request([("CONTENT_LENGTH", ""), ("CONTENT_TYPE", "")]).headers["Content-Length"])
    }

    func testPathIsTheRawRequestURIWithoutQuery() {
        let r = request([("REQUEST_METHOD", "DELETE"), ("REQUEST_URI", "/api/v1/recordings/auth0%7Cabc/s1?x=%20"),
                         ("QUERY_STRING", "x=%20"), ("DOCUMENT_URI", "/api/v1/recordings/auth0|abc/s1")])
        XCTAssertEqual(r.method, "DELETE")
        XCTAssertEqual(r.rawPath, "/api/v1/recordings/auth0%7Cabc/s1")
        XCTAssertEqual(r.rawQuery, "x=%20")
        XCTAssertEqual(r.query["x"], " ")
    }

    func testAbsoluteFormTargetAndFallbacks() {
        XCTAssertEqual(request([("REQUEST_URI", "http://example.com/healthz?a=1")]).rawPath, "/healthz")
        XCTAssertEqual(request([("REQUEST_URI", "http://example.com")]).rawPath, "/")
        XCTAssertEqual(request([("REQUEST_URI", "/p?q#frag")]).rawQuery, "q")
        XCTAssertEqual(request([("DOCUMENT_URI", "/doc")]).rawPath, "/doc")
        XCTAssertEqual(request([]).rawPath, "/")
        XCTAssertEqual(request([]).method, "GET")
        XCTAssertEqual(request([("REQUEST_URI", "/p?a=1&b=2")]).rawQuery, "a=1&b=2")
    }

    /// The target is split on bytes (bench/results.md): the same answers as before for
    /// every form, non-ASCII included.
    func testSplitOfEveryTargetForm() {
        let cases: [(String, String, String)] = [
            ("/p?q#frag", "/p", "q"), ("/p#frag?x", "/p", ""), ("/a/b", "/a/b", ""), ("", "", ""),
            ("/é/ü?x=ß", "/é/ü", "x=ß"), ("https://h/a/b?c#d", "/a/b", "c"), ("http://h?q", "/", ""),
            ("http://h", "/", ""), ("p?x", "p", "x"), ("/x://y?z", "/x://y", "z"), ("?only", "", "only"),
        ]
        for (target, path, query) in cases {
            let split = FastCGIParameters.split(target: target)
            XCTAssertEqual(split.path, path, target)
            XCTAssertEqual(split.query, query, target)
        }
    }

    func testServerParametersExcludeHeaders() {
        let r = request([("RECSTORE_ACCEL_PREFIX", "/_recstore_files/"), ("HTTP_HOST", "h"), ("REMOTE_ADDR", "127.0.0.1")])
        XCTAssertEqual(r.serverParameters["RECSTORE_ACCEL_PREFIX"], "/_recstore_files/")
        XCTAssertEqual(r.serverParameters["REMOTE_ADDR"], "127.0.0.1")
        XCTAssertNil(r.serverParameters["HTTP_HOST"])
    }

    func testFirstOfRepeatedParametersWins() {
        XCTAssertEqual(FastCGIParameters([("A", "1"), ("A", "2")])["A"], "1")
        let r = request([("REQUEST_URI", "/first"), ("HTTP_X_TOKEN", "one"), ("REQUEST_URI", "/second"),
                         ("HTTP_X_TOKEN", "two"), ("REQUEST_METHOD", "PUT"), ("REQUEST_METHOD", "GET")])
        XCTAssertEqual(r.rawPath, "/first")
        XCTAssertEqual(r.method, "PUT")
        XCTAssertEqual(r.headers.fields.filter { $0.name == "X-Token" }.map(\.value), ["one"])
    }

    func testOnlyTheExactNamesHaveTheirMeaning() {
        // Names are matched byte for byte: another case or a prefix is just a server parameter.
        let r = request([("request_uri", "/lower"), ("REQUEST_URI_X", "/longer"), ("REQUEST_URI", "/real"),
                         ("HTTP_", "no name"), ("CONTENT_TYPEX", "x")])
        XCTAssertEqual(r.rawPath, "/real")
        XCTAssertEqual(r.serverParameters["request_uri"], "/lower")
        XCTAssertEqual(r.serverParameters["REQUEST_URI_X"], "/longer")
        XCTAssertEqual(r.serverParameters["HTTP_"], "no name")
        XCTAssertNil(r.headers["Content-Type"])
        XCTAssertTrue(r.headers.fields.isEmpty)
    }
}
