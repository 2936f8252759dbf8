import Foundation
import XCTest
import Diagnostics
@testable import HTTP

final class RouterTests: XCTestCase {
    func json(_ response: Response) -> [String: Any]? {
        guard case .bytes(let bytes) = response.body else { return nil }
        return try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any]
    }

    func text(_ response: Response) -> String? {
        guard case .bytes(let bytes) = response.body else { return nil }
        return String(decoding: bytes, as: UTF8.self)
    }

    func makeRouter() -> Router {
        let router = Router()
        router.add("GET", "/healthz") { _, _ in .text("ok") }
        router.add("GET", "/r/{user}/{session}") { _, route in .text(route.parameter("user") + "|" + route.parameter("session")) }
        router.add("DELETE", "/r/{user}/{session}") { _, _ in .text("deleted") }
        router.add("POST", "/upload") { _, _ in .text("uploaded") }
        router.add("GET", "/users/{user}") { _, route in .text(route.parameter("user")) }
        return router
    }

    func testLiteralAndParameterRoutes() {
        let router = makeRouter()
        XCTAssertEqual(text(router.respond(to: Request(method: "GET", target: "/healthz"))), "ok")
        XCTAssertEqual(text(router.respond(to: Request(method: "GET", target: "/r/alice/s1?x=1"))), "alice|s1")
        XCTAssertEqual(text(router.respond(to: Request(method: "DELETE", target: "/r/alice/s1"))), "deleted")
    }

    func testHandlersGetTheMatchedTemplateAndItsParametersAsAValue() {
        let router = Router()
        router.add("GET", "/r/{user}/{session}") { _, route in
            .text([route.template, route.parameter("user"), route.parameter("session"), route.parameter("absent")]
                .joined(separator: " "))
        }
        let request = Request(method: "GET", target: "/r/al%7Cice/s1")
        XCTAssertEqual(text(router.respond(to: request)), "/r/{user}/{session} al|ice s1 ")
    }

    func testTheMatchedTemplateGoesToTheThreadsRequestContext() {
        let router = makeRouter()
        func route(_ method: String, _ target: String) -> String? {
            RequestContext.begin(requestID: "router-test")
            defer { RequestContext.end() }
            _ = router.respond(to: Request(method: method, target: target))
            return RequestContext.current?.route.map { router.templates[$0] }
        }
        XCTAssertEqual(route("GET", "/r/alice/s1"), "/r/{user}/{session}")
        XCTAssertEqual(route("HEAD", "/users/bob"), "/users/{user}")
        // A refused method still names the path's template (metrics count 405s per route).
        XCTAssertEqual(route("PUT", "/r/alice/s1"), "/r/{user}/{session}")
        XCTAssertNil(route("GET", "/nothing/here"))
        // Each request starts without the previous one's route.
        XCTAssertEqual(route("POST", "/upload"), "/upload")
        XCTAssertNil(route("GET", "/nope"))
    }

    func testParametersArePercentDecodedExactlyOnce() {
        let router = makeRouter()
        XCTAssertEqual(text(router.respond(to: Request(method: "GET", target: "/users/auth0%7Cabc"))), "auth0|abc")
        XCTAssertEqual(text(router.respond(to: Request(method: "GET", target: "/users/a%252Fb"))), "a%2Fb")
        XCTAssertEqual(text(router.respond(to: Request(method: "GET", target: "/users/caf%C3%A9"))), "café")
    }

    func testEncodedSlashStaysInsideItsSegment() {
        let router = makeRouter()
        // Two raw segments after /r: one parameter holds "a/b", never three segments.
        XCTAssertEqual(text(router.respond(to: Request(method: "GET", target: "/r/a%2Fb/s1"))), "a/b|s1")
        XCTAssertEqual(text(router.respond(to: Request(method: "GET", target: "/users/..%2F..%2Fetc"))), "../../etc")
    }

    func testMalformedEscapeIsPassedAsSentForValidationToRefuse() {
        let router = makeRouter()
        XCTAssertEqual(text(router.respond(to: Request(method: "GET", target: "/users/100%"))), "100%")
        XCTAssertEqual(text(router.respond(to: Request(method: "GET", target: "/users/%FF"))), "%FF")
    }

    func testUnknownRoutesAre404JSON() {
        let router = makeRouter()
        for target in ["/nope", "/healthz/", "/r/alice", "/r/alice/s1/extra", "/r//s1", "/", "/users/"] {
            let response = router.respond(to: Request(method: "GET", target: target))
            XCTAssertEqual(response.status, .notFound, target)
            XCTAssertEqual(json(response)?["detail"] as? String, "Not Found", target)
            XCTAssertEqual(response.headers["Content-Type"], "application/json")
        }
    }

    func testWrongMethodIs405WithAllow() {
        let router = makeRouter()
        let response = router.respond(to: Request(method: "PUT", target: "/r/alice/s1"))
        XCTAssertEqual(response.status, .methodNotAllowed)
        XCTAssertEqual(json(response)?["detail"] as? String, "Method Not Allowed")
        XCTAssertEqual(response.headers["Allow"], "GET, DELETE, HEAD")
        XCTAssertEqual(router.respond(to: Request(method: "GET", target: "/upload")).headers["Allow"], "POST")
        // Methods are case-sensitive.
        XCTAssertEqual(router.respond(to: Request(method: "get", target: "/healthz")).status, .methodNotAllowed)
    }

    func testHeadIsServedByTheGetHandler() {
        let response = makeRouter().respond(to: Request(method: "HEAD", target: "/healthz"))
        XCTAssertEqual(response.status, .ok)
        XCTAssertEqual(text(response), "ok")
    }

    func testClientErrorsKeepTheirStatusDetailAndHeaders() {
        let router = Router()
        router.add("GET", "/busy") { _, _ in throw HTTPError.unavailable("storage unreachable", retryAfter: 7) }
        router.add("POST", "/read") { r, _ in
            _ = try r.body.readAll(limit: 4)
            return .text("read")
        }
        let busy = router.respond(to: Request(method: "GET", target: "/busy"))
        XCTAssertEqual(busy.status, .serviceUnavailable)
        XCTAssertEqual(busy.headers["Retry-After"], "7")
        XCTAssertEqual(json(busy)?["detail"] as? String, "storage unreachable")
        let tooLarge = router.respond(to: Request(method: "POST", target: "/read", body: BufferedBody("0123456789")))
        XCTAssertEqual(tooLarge.status, .payloadTooLarge)
    }

    func testUnexpectedErrorIsAGeneric500() {
        struct Secret: Error { let password = "hunter2" }
        let router = Router()
        router.add("GET", "/boom") { _, _ in throw Secret() }
        let response = router.respond(to: Request(method: "GET", target: "/boom"))
        XCTAssertEqual(response.status, .internalServerError)
        XCTAssertEqual(json(response)?["detail"] as? String, "Internal Server Error")
        XCTAssertFalse(text(response)?.contains("hunter2") ?? true)
    }

    func testEveryResponseCarriesTheRequestID() {
        let router = makeRouter()
        for (method, target) in [("GET", "/healthz"), ("GET", "/nope"), ("PUT", "/healthz")] {
            let request = Request(method: method, rawPath: target, requestID: "id-\(method)")
            XCTAssertEqual(router.respond(to: request).headers["X-Request-ID"], "id-\(method)")
        }
    }
}

final class RouterHeadTests: XCTestCase {
    func testAHeadRouteWinsOverTheGetRoute() {
        let router = Router()
        router.add("GET", "/a/{id}") { _, _ in .text("get") }
        router.add("HEAD", "/a/{id}") { _, _ in Response(status: Status(204)) }
        router.add("GET", "/b") { _, _ in .text("get") }
        XCTAssertEqual(router.respond(to: Request(method: "HEAD", target: "/a/1")).status.rawValue, 204)
        XCTAssertEqual(router.respond(to: Request(method: "HEAD", target: "/b")).status.rawValue, 200)
        XCTAssertEqual(router.respond(to: Request(method: "PATCH", target: "/b")).status.rawValue, 405)
    }
}
