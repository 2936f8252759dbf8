#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Digests

/// AWS Signature Version 4, header and query (presigned) forms, with S3's rules:
/// the path is signed as sent (no normalization, each key segment URI-encoded once
/// by the caller), the payload hash is given by the caller (S3 also sends it as
/// `x-amz-content-sha256`), and a session token is signed as `x-amz-security-token`.
public struct SigV4Signer: Sendable {
    public let region: String
    public let service: String

    public init(region: String, service: String = "s3") {
        self.region = region
        self.service = service
    }

    /// A request as it will go on the wire.
    public struct Request: Sendable {
        public var method: String
        /// The canonical URI: already URI-encoded (see `URIEncoding.encodePath`), sent as is.
        public var path: String
        /// Raw (unencoded) query parameters, in any order.
        public var query: [(name: String, value: String)]
        /// Every header to sign, `Host` included.
        public var headers: [(name: String, value: String)]
        /// Hex SHA-256 of the body, or `UNSIGNED-PAYLOAD`.
        public var payloadHash: String

        public init(method: String, path: String, query: [(name: String, value: String)] = [],
                    headers: [(name: String, value: String)], payloadHash: String) {
            self.method = method
            self.path = path
            self.query = query
            self.headers = headers
            self.payloadHash = payloadHash
        }
    }

    /// What header signing adds to the request: `X-Amz-Date`, `X-Amz-Security-Token`
    /// (with a session token) and `Authorization`.
    public func signatureHeaders(for request: Request, credentials: AWSCredentials, date: Date) -> [(name: String, value: String)] {
        signatureHeaders(for: request, canonicalURI: request.path, canonicalQuery: Self.canonicalQuery(request.query),
                         credentials: credentials, date: date)
    }

    /// The same over another canonical URI and query than the request's own: for servers
    /// that verify a form other than AWS's (see `SigningForm`).
    func signatureHeaders(for request: Request, canonicalURI: String, canonicalQuery: String,
                          credentials: AWSCredentials, date: Date) -> [(name: String, value: String)] {
        let stamp = Self.timestamp(date)
        var added: [(name: String, value: String)] = [("X-Amz-Date", stamp)]
        if let token = credentials.sessionToken { added.append(("X-Amz-Security-Token", token)) }
        let (headers, signedHeaders) = Self.canonicalHeaders(request.headers + added)
        let canonical = [request.method, canonicalURI, canonicalQuery,
                         headers, signedHeaders, request.payloadHash].joined(separator: "\n")
        let scope = self.scope(stamp)
        let signature = sign(canonical, stamp: stamp, scope: scope, secret: credentials.secretAccessKey)
        added.append(("Authorization", "AWS4-HMAC-SHA256 Credential=\(credentials.accessKeyID)/\(scope), SignedHeaders=\(signedHeaders), Signature=\(signature)"))
        return added
    }

    /// The full query string of a presigned request (the given parameters plus the
    /// `X-Amz-*` ones, `X-Amz-Signature` last), already encoded.
    public func presignedQuery(for request: Request, credentials: AWSCredentials, date: Date, expires: Int) -> String {
        let stamp = Self.timestamp(date)
        let scope = self.scope(stamp)
        let (headers, signedHeaders) = Self.canonicalHeaders(request.headers)
        var query = request.query
        query.append(("X-Amz-Algorithm", "AWS4-HMAC-SHA256"))
        query.append(("X-Amz-Credential", "\(credentials.accessKeyID)/\(scope)"))
        query.append(("X-Amz-Date", stamp))
        query.append(("X-Amz-Expires", String(expires)))
        if let token = credentials.sessionToken { query.append(("X-Amz-Security-Token", token)) }
        query.append(("X-Amz-SignedHeaders", signedHeaders))
        let canonicalQuery = Self.canonicalQuery(query)
        let canonical = [request.method, request.path, canonicalQuery, headers, signedHeaders, request.payloadHash]
            .joined(separator: "\n")
        let signature = sign(canonical, stamp: stamp, scope: scope, secret: credentials.secretAccessKey)
        return canonicalQuery + "&X-Amz-Signature=" + signature
    }

    // MARK: The pieces, visible to tests

    func scope(_ stamp: String) -> String { "\(stamp.prefix(8))/\(region)/\(service)/aws4_request" }

    func stringToSign(_ canonicalRequest: String, stamp: String, scope: String) -> String {
        "AWS4-HMAC-SHA256\n\(stamp)\n\(scope)\n\(Digest.sha256Hex(canonicalRequest))"
    }

    func sign(_ canonicalRequest: String, stamp: String, scope: String, secret: String) -> String {
        var key = Digest.hmacSHA256(key: Array("AWS4\(secret)".utf8), Array(stamp.prefix(8).utf8))
        key = Digest.hmacSHA256(key: key, Array(region.utf8))
        key = Digest.hmacSHA256(key: key, Array(service.utf8))
        key = Digest.hmacSHA256(key: key, Array("aws4_request".utf8))
        return Digest.hex(Digest.hmacSHA256(key: key, Array(stringToSign(canonicalRequest, stamp: stamp, scope: scope).utf8)))
    }

    /// Names and values encoded, sorted by name then value (byte order).
    public static func canonicalQuery(_ query: [(name: String, value: String)]) -> String {
        query.map { (URIEncoding.encode($0.name), URIEncoding.encode($0.value)) }
            .sorted { $0.0 != $1.0 ? Array($0.0.utf8).lexicographicallyPrecedes(Array($1.0.utf8)) : Array($0.1.utf8).lexicographicallyPrecedes(Array($1.1.utf8)) }
            .map { "\($0.0)=\($0.1)" }
            .joined(separator: "&")
    }

    /// Lowercase names, sorted; values trimmed with inner runs of spaces collapsed;
    /// repeated names joined with commas. Returns the block (each line ending in a
    /// newline) and the signed-headers list.
    static func canonicalHeaders(_ headers: [(name: String, value: String)]) -> (String, String) {
        var merged: [String: [String]] = [:]
        for (name, value) in headers {
            merged[name.lowercased(), default: []].append(collapseSpaces(value))
        }
        let names = merged.keys.sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
        let block = names.map { "\($0):\(merged[$0]!.joined(separator: ","))\n" }.joined()
        return (block, names.joined(separator: ";"))
    }

    static func collapseSpaces(_ value: String) -> String {
        var out = ""
        var pendingSpace = false
        for c in value.trimmingCharacters(in: .whitespaces) {
            if c == " " || c == "\t" { pendingSpace = true; continue }
            if pendingSpace { out.append(" "); pendingSpace = false }
            out.append(c)
        }
        return out
    }

    /// `20150830T123600Z`
    public static func timestamp(_ date: Date) -> String {
        var t = time_t(date.timeIntervalSince1970.rounded(.down))
        var tm = tm()
        gmtime_r(&t, &tm)
        return String(format: "%04d%02d%02dT%02d%02d%02dZ", Int(tm.tm_year) + 1900, Int(tm.tm_mon) + 1,
                      Int(tm.tm_mday), Int(tm.tm_hour), Int(tm.tm_min), Int(tm.tm_sec))
    }
}
