/// One HTTP request as the responder sees it (built from FastCGI params, or by tests).
/// Nothing writes it once built: what routing learns goes to the handler in a
/// `RouteContext`, and who the caller is comes back from authentication as a value.
public final class Request {
    public let method: String
    /// The path as sent, still percent-encoded, without the query string.
    public let rawPath: String
    /// The raw query string (without `?`).
    public let rawQuery: String
    public let headers: Headers
    /// nginx's `$request_id`, or one the responder made.
    public let requestID: String
    public let body: BodyStream
    /// Non-HTTP parameters the front end passed (FastCGI params such as
    /// `RECSTORE_ACCEL_PREFIX`); empty behind other front ends and in tests.
    public let serverParameters: ServerParameters

    public init(method: String, rawPath: String, rawQuery: String = "", headers: Headers = Headers(),
                requestID: String = RequestID.make(), body: BodyStream = BufferedBody(),
                serverParameters: ServerParameters = [:]) {
        self.method = method
        self.rawPath = rawPath
        self.rawQuery = rawQuery
        self.headers = headers
        self.requestID = requestID
        self.body = body
        self.serverParameters = serverParameters
    }

    /// Builds a request from a request target such as `/a/b?x=1`.
    public convenience init(method: String, target: String, headers: Headers = Headers(), body: BodyStream = BufferedBody(),
                            serverParameters: ServerParameters = [:]) {
        if let q = target.firstIndex(of: "?") {
            self.init(method: method, rawPath: String(target[..<q]), rawQuery: String(target[target.index(after: q)...]),
                      headers: headers, body: body, serverParameters: serverParameters)
        } else {
            self.init(method: method, rawPath: target, headers: headers, body: body, serverParameters: serverParameters)
        }
    }

    /// Query parameters, percent-decoded (`+` is a space); the first of repeated names wins.
    public lazy var query: [String: String] = {
        var result: [String: String] = [:]
        for pair in rawQuery.split(separator: "&", omittingEmptySubsequences: true) {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = PercentDecoding.decode(String(parts[0]), plusIsSpace: true) ?? String(parts[0])
            let value = parts.count > 1 ? (PercentDecoding.decode(String(parts[1]), plusIsSpace: true) ?? String(parts[1])) : ""
            if result[name] == nil { result[name] = value }
        }
        return result
    }()
}
