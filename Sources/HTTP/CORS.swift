import JSON

/// Browsers on other origins (API.md "CORS"): which origins may call, and the
/// headers a preflight and every other response to them carry. The same list
/// feeds nginx (scripts/run-stack renders it into a `map`), which adds these
/// headers to the answers the responder never sees (its own error pages and the
/// files it serves after X-Accel-Redirect).
public struct CORSPolicy: Sendable {
    /// Exact origins as browsers send them (`scheme://host[:port]`), compared byte for byte.
    public let allowedOrigins: Set<String>

    /// Request headers a page may send: the API's own and the tus protocol's.
    public static let allowedRequestHeaders = [
        "Authorization", "Content-Type", "If-Match", "Range",
        "Tus-Resumable", "Upload-Length", "Upload-Offset", "Upload-Metadata", "Upload-Defer-Length",
        "Upload-Concat", "X-HTTP-Method-Override", "X-Requested-With",
    ]
    /// Response headers a page may read besides the CORS-safelisted ones.
    public static let exposedHeaders = [
        "ETag", "Location", "X-Request-ID", "Content-Range", "Retry-After", "WWW-Authenticate",
        "Tus-Resumable", "Tus-Version", "Tus-Extension", "Tus-Max-Size",
        "Upload-Offset", "Upload-Length", "Upload-Expires", "Upload-Metadata",
    ]
    // Joined once: they go on every response to an allowed origin.
    static let allowedRequestHeaderList = allowedRequestHeaders.joined(separator: ", ")
    static let exposedHeaderList = exposedHeaders.joined(separator: ", ")
    /// How long a browser may reuse a preflight's answer (Chromium caps it at 2 hours).
    public static let maxAgeSeconds = 7200
    /// The paths the policy covers; everything else (health, operations) is left alone.
    public static let pathPrefix = "/api/v1/"

    public init(allowedOrigins: [String]) { self.allowedOrigins = Set(allowedOrigins) }

    public func allows(_ origin: String) -> Bool { allowedOrigins.contains(origin) }

    /// `OPTIONS` with `Origin` and `Access-Control-Request-Method`: what a browser sends
    /// before a request it may not make unasked. A plain `OPTIONS` (tus discovery) is not one.
    public static func isPreflight(_ request: Request) -> Bool {
        request.method == "OPTIONS" && request.headers.contains("Origin")
            && request.headers.contains("Access-Control-Request-Method")
    }

    public static func covers(_ rawPath: String) -> Bool { rawPath.hasPrefix(pathPrefix) }

    /// The headers every response to an allowed origin carries.
    public static func addResponseHeaders(origin: String, to headers: inout Headers) {
        headers.set("Access-Control-Allow-Origin", origin)
        addVaryOrigin(to: &headers)
        headers.set("Access-Control-Expose-Headers", exposedHeaderList)
    }

    /// `Vary: Origin`, kept beside any `Vary` the handler set.
    static func addVaryOrigin(to headers: inout Headers) {
        guard let vary = headers["Vary"] else { return headers.set("Vary", "Origin") }
        let listed = vary.split(separator: ",").contains { $0.trimmingCharacters(inSet: " \t").caseInsensitiveEquals("Origin") || $0.trimmingCharacters(inSet: " \t") == "*" }
        if !listed { headers.set("Vary", vary + ", Origin") }
    }
}

/// In front of the router: answers preflights itself (without a token, and without
/// ever reaching a handler or storage) and adds the CORS headers to whatever the
/// router answers an allowed origin. Requests that are not preflights, including a
/// plain `OPTIONS` a route serves (tus discovery), go to the router unchanged.
public final class CORSResponder: Responder {
    let router: Router
    let policy: CORSPolicy

    public init(wrapping router: Router, policy: CORSPolicy) {
        self.router = router
        self.policy = policy
    }

    public func respond(to request: Request) -> Response {
        guard CORSPolicy.covers(request.rawPath) else { return router.respond(to: request) }
        let origin = request.headers["Origin"]
        if CORSPolicy.isPreflight(request) { return preflight(request, origin: origin ?? "") }
        var response = router.respond(to: request)
        if let origin, policy.allows(origin) { CORSPolicy.addResponseHeaders(origin: origin, to: &response.headers) }
        return response
    }

    func preflight(_ request: Request, origin: String) -> Response {
        var response: Response
        if !policy.allows(origin) {
            // No CORS header at all: the browser blocks the page's request.
            response = HTTPError(.forbidden, "Origin not allowed").response
        } else if let methods = router.methods(forPath: request.rawPath) {
            response = Response(status: Status(204))
            response.headers.set("Access-Control-Allow-Methods", methods.joined(separator: ", "))
            response.headers.set("Access-Control-Allow-Headers", CORSPolicy.allowedRequestHeaderList)
            response.headers.set("Access-Control-Max-Age", String(CORSPolicy.maxAgeSeconds))
            CORSPolicy.addResponseHeaders(origin: origin, to: &response.headers)
        } else {
            // An unknown path stays a 404 (the page's request fails as it would without
            // CORS), readable by the page so that it can show why.
            response = HTTPError.notFound().response
            CORSPolicy.addResponseHeaders(origin: origin, to: &response.headers)
        }
        response.headers.set("X-Request-ID", request.requestID)
        return response
    }
}

// The router and the policy are fixed before the responder is shared between threads.
extension CORSResponder: @unchecked Sendable {}

extension Substring {
    fileprivate func trimmingCharacters(inSet set: String) -> String {
        var s = self
        while let c = s.first, set.contains(c) { s = s.dropFirst() }
        while let c = s.last, set.contains(c) { s = s.dropLast() }
        return String(s)
    }
}
