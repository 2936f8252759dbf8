import Foundation
import XCTest
@testable import HTTP

final class CORSTests: XCTestCase {
    let allowed = "http://localhost:5173"
    let refused = "http://evil.example"

    /// Routes like the API's; each handler counts its calls so a test can prove a
    /// preflight never reached one.
    final class Calls: @unchecked Sendable {
        private let lock = NSLock()
        private var n = 0
        func hit() { lock.lock(); n += 1; lock.unlock() }
        var count: Int { lock.lock(); defer { lock.unlock() }; return n }
    }

    func makeResponder(_ calls: Calls = Calls()) -> CORSResponder {
        let router = Router()
        router.add("GET", "/api/v1/recordings/{user}/{session}") { _, _ in calls.hit(); var h = Headers(); h.set("ETag", "\"e1\""); return .json(.object(.init([])), headers: h) }
        router.add("DELETE", "/api/v1/recordings/{user}/{session}") { _, _ in calls.hit(); return .text("deleted") }
        router.add("POST", "/api/v1/user_settings") { _, _ in calls.hit(); throw HTTPError(.unauthorized, "Not authenticated") }
        router.add("OPTIONS", "/api/v1/uploads") { _, _ in calls.hit(); var h = Headers(); h.set("Tus-Version", "1.0.0"); return Response(status: Status(204), headers: h) }
        router.add("POST", "/api/v1/uploads") { _, _ in calls.hit(); return .text("created") }
        router.add("GET", "/healthz") { _, _ in calls.hit(); return .text("ok") }
        return CORSResponder(wrapping: router, policy: CORSPolicy(allowedOrigins: [allowed, "https://app.example.com"]))
    }

    func preflight(_ path: String, origin: String, method: String = "GET") -> Request {
        Request(method: "OPTIONS", target: path, headers: Headers([
            ("Origin", origin), ("Access-Control-Request-Method", method),
            ("Access-Control-Request-Headers", "authorization,content-type"),
        ]))
    }

    func corsHeaderNames(_ response: Response) -> [String] {
        response.headers.fields.map(\.name).filter { $0.lowercased().hasPrefix("access-control-") }
    }

    func testPreflightFromAnAllowedOriginListsTheRouteMethods() {
        let calls = Calls()
        let responder = makeResponder(calls)
        let response = responder.respond(to: preflight("/api/v1/recordings/alice/s1", origin: allowed, method: "DELETE"))
        XCTAssertEqual(response.status.rawValue, 204)
        XCTAssertEqual(response.headers["Access-Control-Allow-Origin"], allowed)
        XCTAssertEqual(response.headers["Vary"], "Origin")
        XCTAssertEqual(response.headers["Access-Control-Allow-Methods"], "GET, DELETE, HEAD")
        let requestHeaders = Set((response.headers["Access-Control-Allow-Headers"] ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces).lowercased() })
        for name in ["authorization", "content-type", "if-match", "range", "tus-resumable", "upload-length", "upload-offset",
                     "upload-metadata", "upload-defer-length", "upload-concat", "x-http-method-override", "x-requested-with"] {
            XCTAssertTrue(requestHeaders.contains(name), name)
        }
        XCTAssertEqual(response.headers["Access-Control-Max-Age"], "7200")
        XCTAssertNotNil(response.headers["X-Request-ID"])
        XCTAssertEqual(response.contentLength, 0)
        XCTAssertEqual(calls.count, 0, "a preflight must not reach a handler")
    }

    func testPreflightFromAnotherOriginIs403WithoutCORSHeaders() {
        let calls = Calls()
        let responder = makeResponder(calls)
        for origin in [refused, "http://localhost:5174", "null", "HTTP://LOCALHOST:5173", allowed + "/"] {
            let response = responder.respond(to: preflight("/api/v1/recordings/alice/s1", origin: origin))
            XCTAssertEqual(response.status.rawValue, 403, origin)
            XCTAssertEqual(corsHeaderNames(response), [], origin)
            XCTAssertNil(response.headers["Vary"], origin)
        }
        XCTAssertEqual(calls.count, 0)
    }

    func testPreflightOfAnUnknownPathIsA404ThePageCanRead() {
        let response = makeResponder().respond(to: preflight("/api/v1/nothing/here", origin: allowed))
        XCTAssertEqual(response.status.rawValue, 404)
        XCTAssertEqual(response.headers["Access-Control-Allow-Origin"], allowed)
        XCTAssertNil(response.headers["Access-Control-Allow-Methods"])
        XCTAssertEqual(makeResponder().respond(to: preflight("/api/v1/nothing/here", origin: refused)).status.rawValue, 403)
    }

    func testPlainOptionsStillReachesItsRoute() {
        let calls = Calls()
        let responder = makeResponder(calls)
        // tus discovery: OPTIONS without Access-Control-Request-Method, from a page or not.
        let discovery = responder.respond(to: Request(method: "OPTIONS", target: "/api/v1/uploads", headers: Headers([("Origin", allowed)])))
        XCTAssertEqual(discovery.status.rawValue, 204)
        XCTAssertEqual(discovery.headers["Tus-Version"], "1.0.0")
        XCTAssertEqual(discovery.headers["Access-Control-Allow-Origin"], allowed)
        XCTAssertEqual(calls.count, 1)
        // The same route preflighted: answered in front of the router, with its methods.
        let response = responder.respond(to: preflight("/api/v1/uploads", origin: allowed, method: "POST"))
        XCTAssertEqual(response.status.rawValue, 204)
        XCTAssertNil(response.headers["Tus-Version"])
        XCTAssertEqual(response.headers["Access-Control-Allow-Methods"], "OPTIONS, POST")
        XCTAssertEqual(calls.count, 1)
        // Without Origin it is no preflight either.
        let bare = responder.respond(to: Request(method: "OPTIONS", target: "/api/v1/uploads", headers: Headers([("Access-Control-Request-Method", "POST")])))
        XCTAssertEqual(bare.headers["Tus-Version"], "1.0.0")
        XCTAssertEqual(calls.count, 2)
    }

    func testResponsesToAnAllowedOriginCarryTheHeadersErrorsIncluded() {
        let responder = makeResponder()
        let ok = responder.respond(to: Request(method: "GET", target: "/api/v1/recordings/a/b", headers: Headers([("Origin", allowed)])))
        XCTAssertEqual(ok.status.rawValue, 200)
        XCTAssertEqual(ok.headers["ETag"], "\"e1\"")
        for (method, path, status) in [("GET", "/api/v1/recordings/a/b", 200), ("POST", "/api/v1/user_settings", 401),
                                       ("GET", "/api/v1/nope", 404), ("PUT", "/api/v1/user_settings", 405)] {
            let response = responder.respond(to: Request(method: method, target: path, headers: Headers([("Origin", "https://app.example.com")])))
            XCTAssertEqual(response.status.rawValue, status, path)
            XCTAssertEqual(response.headers["Access-Control-Allow-Origin"], "https://app.example.com", path)
            XCTAssertEqual(response.headers["Vary"], "Origin", path)
            let exposed = (response.headers["Access-Control-Expose-Headers"] ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            XCTAssertEqual(Set(exposed), Set(["ETag", "Location", "X-Request-ID", "Content-Range", "Retry-After", "WWW-Authenticate",
                                              "Tus-Resumable", "Tus-Version", "Tus-Extension", "Tus-Max-Size", "Upload-Offset",
                                              "Upload-Length", "Upload-Expires", "Upload-Metadata"]), path)
            XCTAssertNil(response.headers["Access-Control-Allow-Credentials"], "bearer tokens, never cookies")
            XCTAssertNotNil(response.headers["X-Request-ID"], path)
        }
    }

    func testOtherOriginsAndNoOriginGetNoCORSHeaders() {
        let responder = makeResponder()
        for headers in [Headers([("Origin", refused)]), Headers()] {
            let response = responder.respond(to: Request(method: "GET", target: "/api/v1/recordings/a/b", headers: headers))
            XCTAssertEqual(response.status.rawValue, 200)
            XCTAssertEqual(corsHeaderNames(response), [])
            XCTAssertNil(response.headers["Vary"])
        }
    }

    func testPathsOutsideTheAPIAreLeftAlone() {
        let responder = makeResponder()
        let health = responder.respond(to: Request(method: "GET", target: "/healthz", headers: Headers([("Origin", allowed)])))
        XCTAssertEqual(corsHeaderNames(health), [])
        let options = responder.respond(to: preflight("/healthz", origin: allowed))
        XCTAssertEqual(options.status.rawValue, 405)
    }

    func testNoOriginsConfiguredRefusesEveryPreflight() {
        let router = Router()
        router.add("GET", "/api/v1/x") { _, _ in .text("x") }
        let responder = CORSResponder(wrapping: router, policy: CORSPolicy(allowedOrigins: []))
        XCTAssertEqual(responder.respond(to: preflight("/api/v1/x", origin: allowed)).status.rawValue, 403)
        let plain = responder.respond(to: Request(method: "GET", target: "/api/v1/x", headers: Headers([("Origin", allowed)])))
        XCTAssertEqual(corsHeaderNames(plain), [])
    }

    func testVaryKeepsWhatTheHandlerSet() {
        var headers = Headers()
        headers.set("Vary", "Accept-Encoding")
        CORSPolicy.addResponseHeaders(origin: allowed, to: &headers)
        XCTAssertEqual(headers["Vary"], "Accept-Encoding, Origin")
        CORSPolicy.addResponseHeaders(origin: allowed, to: &headers)
        XCTAssertEqual(headers["Vary"], "Accept-Encoding, Origin")
    }

    func testRouterMethodsForPath() {
        let router = Router()
        router.add("GET", "/a/{x}") { _, _ in .text("") }
        router.add("POST", "/a/{x}") { _, _ in .text("") }
        router.add("GET", "/a/{x}/b") { _, _ in .text("") }
        XCTAssertEqual(router.methods(forPath: "/a/1"), ["GET", "POST", "HEAD"])
        XCTAssertEqual(router.methods(forPath: "/a/1/b"), ["GET", "HEAD"])
        XCTAssertNil(router.methods(forPath: "/a"))
        XCTAssertNil(router.methods(forPath: "/a//b"))
    }
}
