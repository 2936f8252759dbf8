import Diagnostics

/// Anything that turns a request into a response. The transport holds one, shared
/// by every request thread, so it must be safe to call concurrently.
public protocol Responder: Sendable {
    func respond(to request: Request) -> Response
}

/// A route's work: the request as it came, and what the router found in its path.
public typealias Handler = @Sendable (Request, RouteContext) throws -> Response

/// Method + path-template routing. Templates are literal segments and `{name}`
/// parameters; a parameter matches one raw segment, percent-decoded once (so
/// `%2F` inside an id arrives as `/` and is refused by id validation, never
/// treated as a separator).
public final class Router: Responder {
    struct Route {
        let method: String
        let segments: [Segment]
        let handler: Handler
        /// Index into `templates`.
        let templateIndex: Int
    }
    enum Segment { case literal(String), parameter(String) }

    private var routes: [Route] = []
    /// Every distinct template, in registration order (metrics label routes with these).
    public private(set) var templates: [String] = []

    public init() {}

    /// Routes are added before the router is shared, never after.
    public func add(_ method: String, _ template: String, _ handler: @escaping Handler) {
        let segments = template.split(separator: "/", omittingEmptySubsequences: false).dropFirst().map { s -> Segment in
            if s.hasPrefix("{") && s.hasSuffix("}") { return .parameter(String(s.dropFirst().dropLast())) }
            return .literal(String(s))
        }
        let templateIndex = templates.firstIndex(of: template) ?? templates.count
        if templateIndex == templates.count { templates.append(template) }
        routes.append(Route(method: method, segments: Array(segments), handler: handler, templateIndex: templateIndex))
    }

    public func respond(to request: Request) -> Response {
        var response: Response
        do {
            response = try route(request)
        } catch {
            response = ErrorResponse.response(for: error, request: request)
        }
        response.headers.set("X-Request-ID", request.requestID)
        return response
    }

    func route(_ request: Request) throws -> Response {
        let raw = Self.segments(request.rawPath)
        var allowed: [String] = []
        var getForHead: (Route, [String: String])?
        var firstMatch: Int?
        for route in routes {
            guard let params = match(route.segments, raw) else { continue }
            if route.method == request.method { return try run(route, params, request) }
            // A path that matched names its template even when the method is refused.
            if firstMatch == nil { firstMatch = route.templateIndex }
            // A HEAD is served by the GET route unless a HEAD route of its own matches.
            if request.method == "HEAD" && route.method == "GET" && getForHead == nil { getForHead = (route, params) }
            if !allowed.contains(route.method) { allowed.append(route.method) }
        }
        if let (route, params) = getForHead { return try run(route, params, request) }
        if let firstMatch { RequestContext.current?.route = firstMatch }
        if allowed.isEmpty { throw HTTPError(.notFound, "Not Found") }
        if allowed.contains("GET") && !allowed.contains("HEAD") { allowed.append("HEAD") }
        var h = Headers()
        h.set("Allow", allowed.joined(separator: ", "))
        throw HTTPError(.methodNotAllowed, "Method Not Allowed", headers: h)
    }

    /// Calls the route's handler; the matched template goes to the thread's request
    /// context too, where the transport labels the request's metrics with it.
    private func run(_ route: Route, _ parameters: [String: String], _ request: Request) throws -> Response {
        RequestContext.current?.route = route.templateIndex
        let context = RouteContext(template: templates[route.templateIndex],
                                   parameters: parameters)
        return try route.handler(request, context)
    }

    /// The path's segments after the leading one (empty ones kept), split on UTF-8
    /// bytes: a Character-wise split was 16,000 instructions per request
    /// (bench/results.md). `/` is ASCII, so the cuts fall on scalar boundaries.
    static func segments(_ path: String) -> [Substring] {
        let bytes = path.utf8
        var segments: [Substring] = []
        var start = bytes.startIndex
        var i = start
        while i != bytes.endIndex {
            if bytes[i] == UInt8(ascii: "/") {
                segments.append(Substring(bytes[start..<i]))
                start = bytes.index(after: i)
            }
            i = bytes.index(after: i)
        }
        segments.append(Substring(bytes[start..<bytes.endIndex]))
        segments.removeFirst()
        return segments
    }

    /// The methods some route serves at this path (HEAD with GET), or nil when no
    /// route matches it: what a CORS preflight answers with.
    public func methods(forPath rawPath: String) -> [String]? {
        let raw = Self.segments(rawPath)
        var methods: [String] = []
        for route in routes where match(route.segments, raw) != nil && !methods.contains(route.method) {
            methods.append(route.method)
        }
        if methods.isEmpty { return nil }
        if methods.contains("GET") && !methods.contains("HEAD") { methods.append("HEAD") }
        return methods
    }

    func match(_ template: [Segment], _ path: [Substring]) -> [String: String]? {
        guard template.count == path.count else { return nil }
        // Literals first, lengths before bytes: most routes are refused here, before
        // any parameter is decoded (a settings GET tries seven routes).
        for (segment, raw) in zip(template, path) {
            switch segment {
            case .literal(let s):
                guard raw.utf8.count == s.utf8.count, raw == s else { return nil }
            case .parameter:
                guard !raw.isEmpty else { return nil }
            }
        }
        var params: [String: String] = [:]
        for (segment, raw) in zip(template, path) {
            guard case .parameter(let name) = segment else { continue }
            // A malformed escape stays as sent: its `%` then fails id validation (422).
            let decoded = PercentDecoding.decode(String(raw)) ?? String(raw)
            params[name] = decoded
        }
        return params
    }
}

// Routes are fixed before the router is shared between threads.
extension Router: @unchecked Sendable {}
