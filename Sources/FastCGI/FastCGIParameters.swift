#if canImport(Glibc)
import Glibc
#endif
import HTTP

/// The parameters of one FastCGI request: CGI/1.1 meta-variables, the HTTP
/// headers as `HTTP_*`, and whatever else the web server passes (`REQUEST_ID`,
/// `RECSTORE_ACCEL_PREFIX`).
public struct FastCGIParameters: Sendable {
    public private(set) var values: [String: String] = [:]
    /// In arrival order, without repeats: headers keep the order nginx sent them in.
    private var ordered: [(name: String, value: String)] = []

    /// The first value of a repeated name wins.
    public init(_ pairs: [(String, String)]) {
        values.reserveCapacity(pairs.count)
        ordered.reserveCapacity(pairs.count)
        for (name, value) in pairs where values[name] == nil {
            values[name] = value
            ordered.append((name, value))
        }
    }

    /// Reads libfcgi's NULL-terminated `NAME=VALUE` array (on bytes: this runs for
    /// every parameter of every request).
    init(envp: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) {
        var pairs: [(String, String)] = []
        pairs.reserveCapacity(32)
        var cursor = envp
        while let entry = cursor?.pointee {
            let length = strlen(entry)
            entry.withMemoryRebound(to: UInt8.self, capacity: length) { bytes in
                let buffer = UnsafeBufferPointer(start: bytes, count: length)
                if let eq = buffer.firstIndex(of: UInt8(ascii: "=")) {
                    pairs.append((String(decoding: UnsafeBufferPointer(rebasing: buffer[..<eq]), as: UTF8.self),
                                  String(decoding: UnsafeBufferPointer(rebasing: buffer[(eq + 1)...]), as: UTF8.self)))
                }
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
        for (name, value) in ordered {
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
                              requestID: requestID, body: body, serverParameters: server)
        return request
    }

    /// `HTTP_X_REQUEST_ID` → `X-Request-Id` (header names compare case-insensitively).
    static func headerName(fromParameter name: String) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(name.utf8.count)
        var startOfWord = true
        for b in name.utf8.dropFirst(5) {
            if b == UInt8(ascii: "_") {
                out.append(UInt8(ascii: "-"))
                startOfWord = true
                continue
            }
            let isUpper = b >= 0x41 && b <= 0x5A, isLower = b >= 0x61 && b <= 0x7A
            out.append(startOfWord ? (isLower ? b - 32 : b) : (isUpper ? b + 32 : b))
            startOfWord = false
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Splits a request target into path and query, accepting the absolute form
    /// (`http://host/path?q`) a client may send.
    ///
    /// Scanned as UTF-8 bytes: the delimiters are ASCII, and searching Characters
    /// (grapheme breaking) cost ~27,000 instructions per request (bench/results.md).
    static func split(target: String) -> (path: String, query: String) {
        let bytes = target.utf8
        var start = bytes.startIndex
        if bytes.first != UInt8(ascii: "/"), let scheme = Self.find("://", in: bytes) {
            let afterScheme = bytes.index(scheme, offsetBy: 3)
            guard let slash = bytes[afterScheme...].firstIndex(of: UInt8(ascii: "/")) else { return ("/", "") }
            start = slash
        }
        var rest = bytes[start...]
        if let hash = rest.firstIndex(of: UInt8(ascii: "#")) { rest = rest[..<hash] }
        guard let q = rest.firstIndex(of: UInt8(ascii: "?")) else { return (String(Substring(rest)), "") }
        return (String(Substring(rest[..<q])), String(Substring(rest[rest.index(after: q)...])))
    }

    private static func find(_ needle: StaticString, in bytes: String.UTF8View) -> String.Index? {
        let n = Array(UnsafeBufferPointer(start: needle.utf8Start, count: needle.utf8CodeUnitCount))
        var i = bytes.startIndex
        while i != bytes.endIndex {
            if bytes[i...].starts(with: n) { return i }
            i = bytes.index(after: i)
        }
        return nil
    }
}
