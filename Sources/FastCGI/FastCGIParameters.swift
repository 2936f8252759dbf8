import HTTP

/// The parameters of one FastCGI request: CGI/1.1 meta-variables, the HTTP
/// headers as `HTTP_*`, and whatever else the web server passes (`REQUEST_ID`,
/// `RECSTORE_ACCEL_PREFIX`).
public struct FastCGIParameters: Sendable {
    public private(set) var values: [String: String] = [:]

    /// The first value of a repeated name wins.
    public init(_ pairs: [(String, String)]) {
        for (name, value) in pairs where values[name] == nil { values[name] = value }
    }

    /// Reads libfcgi's NULL-terminated `NAME=VALUE` array.
    init(envp: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) {
        var pairs: [(String, String)] = []
        var cursor = envp
        while let entry = cursor?.pointee {
            let text = String(cString: entry)
            if let eq = text.firstIndex(of: "=") {
                pairs.append((String(text[..<eq]), String(text[text.index(after: eq)...])))
            }
            cursor = cursor! + 1
        }
        self.init(pairs)
    }

    public subscript(name: String) -> String? { values[name] }

    /// The request the router sees. The path is the raw `REQUEST_URI` (nginx's
    /// `$request_uri`, still percent-encoded: the router decodes parameters once),
    /// the id is the web server's `REQUEST_ID` when it is plain enough to echo.
    public func makeRequest(body: BodyStream) -> Request {
        var headers = Headers()
        var server: [String: String] = [:]
        for (name, value) in values.sorted(by: { $0.key < $1.key }) {
            if name.hasPrefix("HTTP_") {
                headers.add(Self.headerName(fromParameter: name), value)
            } else {
                server[name] = value
            }
        }
        // CONTENT_TYPE / CONTENT_LENGTH are not HTTP_* params, but handlers read them as headers.
        if let type = values["CONTENT_TYPE"], !type.isEmpty { headers.set("Content-Type", type) }
        if let length = values["CONTENT_LENGTH"], !length.isEmpty { headers.set("Content-Length", length) }

        let target = values["REQUEST_URI"] ?? ""
        let (path, queryInTarget) = Self.split(target: target)
        let rawPath = path.hasPrefix("/") ? path : (values["DOCUMENT_URI"].flatMap { $0.hasPrefix("/") ? $0 : nil } ?? "/")
        let rawQuery = values["QUERY_STRING"] ?? queryInTarget

        let offered = values["REQUEST_ID"] ?? ""
        let requestID = RequestID.isAcceptable(offered) ? offered : RequestID.make()

        let method = values["REQUEST_METHOD"].flatMap { $0.isEmpty ? nil : $0 } ?? "GET"
        let request = Request(method: method, rawPath: rawPath, rawQuery: rawQuery, headers: headers,
                              requestID: requestID, body: body)
        request.serverParameters = server
        return request
    }

    /// `HTTP_X_REQUEST_ID` → `X-Request-Id` (header names compare case-insensitively).
    static func headerName(fromParameter name: String) -> String {
        name.dropFirst(5).split(separator: "_", omittingEmptySubsequences: false)
            .map { word in word.prefix(1).uppercased() + word.dropFirst().lowercased() }
            .joined(separator: "-")
    }

    /// Splits a request target into path and query, accepting the absolute form
    /// (`http://host/path?q`) a client may send.
    static func split(target: String) -> (path: String, query: String) {
        var rest = Substring(target)
        if !rest.hasPrefix("/"), let scheme = rest.range(of: "://") {
            let afterScheme = rest[scheme.upperBound...]
            rest = afterScheme.firstIndex(of: "/").map { afterScheme[$0...] } ?? "/"
        }
        if let hash = rest.firstIndex(of: "#") { rest = rest[..<hash] }
        guard let q = rest.firstIndex(of: "?") else { return (String(rest), "") }
        return (String(rest[..<q]), String(rest[rest.index(after: q)...]))
    }
}
