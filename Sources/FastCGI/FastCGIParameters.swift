#if canImport(Glibc)
import Glibc
#endif
import HTTP

/// The parameters of one FastCGI request: CGI/1.1 meta-variables, the HTTP
/// headers as `HTTP_*`, and whatever else the web server passes (`REQUEST_ID`,
/// `RECSTORE_ACCEL_PREFIX`).
///
/// Kept as a list in arrival order, each name sorted once into what it is for
/// (`Role`): this runs for every parameter of every request, and hashing ~20 names
/// into a dictionary and looking 7 of them up again cost ~20,000 instructions per
/// request (bench/results.md). The first of a repeated name wins.
public struct FastCGIParameters: Sendable {
    /// What a parameter is for, decided from its name's bytes.
    enum Role: Sendable {
        case header, contentType, contentLength, requestURI, documentURI, queryString, requestID, method, other

        init(name: UnsafeBufferPointer<UInt8>) {
            func hasPrefix(_ literal: StaticString) -> Bool {
                literal.utf8CodeUnitCount <= name.count && memcmp(literal.utf8Start, name.baseAddress!, literal.utf8CodeUnitCount) == 0
            }
            func equals(_ literal: StaticString) -> Bool { literal.utf8CodeUnitCount == name.count && hasPrefix(literal) }
            switch name.count {
            case 0: self = .other
            case _ where name.count > 5 && hasPrefix("HTTP_"): self = .header
            case 10: self = equals("REQUEST_ID") ? .requestID : .other
            case 11: self = equals("REQUEST_URI") ? .requestURI : .other
            case 12: self = equals("CONTENT_TYPE") ? .contentType : equals("DOCUMENT_URI") ? .documentURI
                         : equals("QUERY_STRING") ? .queryString : .other
            case 14: self = equals("CONTENT_LENGTH") ? .contentLength : equals("REQUEST_METHOD") ? .method : .other
            default: self = .other
            }
        }

        init(name: String) {
            var name = name
            self = name.withUTF8 { Role(name: $0) }
        }
    }

    private var entries: [(role: Role, name: String, value: String)] = []

    public init(_ pairs: [(String, String)]) {
        entries = pairs.map { (Role(name: $0.0), $0.0, $0.1) }
    }

    /// Reads libfcgi's NULL-terminated `NAME=VALUE` array (on bytes: this runs for
    /// every parameter of every request).
    init(envp: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) {
        entries.reserveCapacity(32)
        var cursor = envp
        while let entry = cursor?.pointee {
            let length = strlen(entry)
            entry.withMemoryRebound(to: UInt8.self, capacity: length) { bytes in
                let buffer = UnsafeBufferPointer(start: bytes, count: length)
                if let eq = buffer.firstIndex(of: UInt8(ascii: "=")) {
                    let name = UnsafeBufferPointer(rebasing: buffer[..<eq])
                    entries.append((Role(name: name), String(decoding: name, as: UTF8.self),
                                    String(decoding: UnsafeBufferPointer(rebasing: buffer[(eq + 1)...]), as: UTF8.self)))
                }
            }
            cursor = cursor! + 1
        }
    }

    public subscript(name: String) -> String? {
        let length = name.utf8.count
        for entry in entries where entry.name.utf8.count == length && entry.name == name { return entry.value }
        return nil
    }

    /// The request the router sees. The path is the raw `REQUEST_URI` (nginx's
    /// `$request_uri`, still percent-encoded: the router decodes parameters once),
    /// the id is the web server's `REQUEST_ID` when it is plain enough to echo.
    public func makeRequest(body: BodyStream) -> Request {
        var headers = Headers()
        var server: [(name: String, value: String)] = []
        server.reserveCapacity(entries.count)
        var contentType, contentLength, target, documentURI, query, offeredID, method: String?
        for (index, entry) in entries.enumerated() {
            switch entry.role {
            case .header:
                if !isRepeated(index) { headers.add(Self.headerName(fromParameter: entry.name), entry.value) }
                continue
            case .contentType: if contentType == nil { contentType = entry.value }
            case .contentLength: if contentLength == nil { contentLength = entry.value }
            case .requestURI: if target == nil { target = entry.value }
            case .documentURI: if documentURI == nil { documentURI = entry.value }
            case .queryString: if query == nil { query = entry.value }
            case .requestID: if offeredID == nil { offeredID = entry.value }
            case .method: if method == nil { method = entry.value }
            case .other: break
            }
            server.append((entry.name, entry.value))
        }
        // CONTENT_TYPE / CONTENT_LENGTH are not HTTP_* params, but handlers read them as headers.
        if let contentType, !contentType.isEmpty { headers.set("Content-Type", contentType) }
        if let contentLength, !contentLength.isEmpty { headers.set("Content-Length", contentLength) }

        let (path, queryInTarget) = Self.split(target: target ?? "")
        let rawPath = path.hasPrefix("/") ? path : (documentURI.flatMap { $0.hasPrefix("/") ? $0 : nil } ?? "/")
        let rawQuery = query ?? queryInTarget

        let offered = offeredID ?? ""
        let requestID = RequestID.isAcceptable(offered) ? offered : RequestID.make()

        return Request(method: method.flatMap { $0.isEmpty ? nil : $0 } ?? "GET", rawPath: rawPath, rawQuery: rawQuery,
                       headers: headers, requestID: requestID, body: body, serverParameters: ServerParameters(server))
    }

    /// True when a header parameter before `index` has the same name.
    private func isRepeated(_ index: Int) -> Bool {
        let name = entries[index].name
        let length = name.utf8.count
        for earlier in entries[..<index] where earlier.role == .header && earlier.name.utf8.count == length && earlier.name == name {
            return true
        }
        return false
    }

    /// `HTTP_X_REQUEST_ID` → `X-Request-Id` (header names compare case-insensitively).
    static func headerName(fromParameter name: String) -> String {
        var name = name
        return name.withUTF8 { bytes in
            let count = max(0, bytes.count - 5)
            return String(unsafeUninitializedCapacity: count) { out in
                var startOfWord = true
                for i in 0..<count {
                    let b = bytes[i + 5]
                    if b == UInt8(ascii: "_") {
                        out[i] = UInt8(ascii: "-")
                        startOfWord = true
                        continue
                    }
                    let isUpper = b >= 0x41 && b <= 0x5A, isLower = b >= 0x61 && b <= 0x7A
                    out[i] = startOfWord ? (isLower ? b - 32 : b) : (isUpper ? b + 32 : b)
                    startOfWord = false
                }
                return count
            }
        }
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
