import Configuration
import HTTP
import JSON

/// The wiring: every route the responder serves, built once per worker process
/// from the checked configuration.
enum App {
    static func makeResponder(_ configuration: Configuration) throws -> Responder {
        let router = Router()
        let readiness = Readiness(checks: [])
        router.add("GET", "/healthz") { _ in
            .json(.object(JSONObject([("status", .string("ok"))])))
        }
        router.add("GET", "/readyz") { _ in readiness.response() }
        return router
    }
}

/// `/readyz`: 200 when every check passes, else 503 with the first problem.
struct Readiness: Sendable {
    typealias Check = @Sendable () -> String?
    let checks: [(name: String, check: Check)]

    func response() -> Response {
        for (name, check) in checks {
            if let problem = check() { return HTTPError.unavailable("not ready: \(name): \(problem)").response }
        }
        return .json(.object(JSONObject([("status", .string("ready"))])))
    }
}
