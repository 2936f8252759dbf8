/// Why a store could not do what was asked, kept as data so callers decide on
/// fields, never on message text: `recstore check` switches on `code`, the API
/// answers 503 with `retryAfter`, the log gets every field.
///
/// Written as a string (`.unavailable("...")`) it is a failure with a reason only.
public struct StoreFailure: Error, Sendable, Equatable, CustomStringConvertible, ExpressibleByStringInterpolation {
    public enum Kind: String, Sendable {
        /// No HTTP answer: connection refused or reset, a timeout, TLS.
        case unreachable
        /// The server answered with a failure that may pass later (5xx, SlowDown, 429).
        case serverError
        /// The server refused us (403: credentials, signature, permissions).
        case refused
        /// The request's time budget was spent before the store answered.
        case deadline
        /// The circuit breaker is open: the store was not asked at all.
        case breakerOpen
        /// A commit that may or may not have landed, and could not be read back:
        /// never retried elsewhere (that could store the recording twice).
        case ambiguousCommit
        /// Any other failure (an unexpected answer, a local file that cannot be written).
        case other
    }

    public var kind: Kind
    /// For logs and operators only: may name endpoints, buckets, library text.
    public var reason: String
    /// The store's name for the call (`PutObject`).
    public var operation: String?
    /// The HTTP status of the store's answer, when there was one.
    public var status: Int?
    /// The store's error code (`SlowDown`, `NoSuchBucket`, `SignatureDoesNotMatch`).
    public var code: String?
    public var requestID: String?
    /// Seconds after which asking again may succeed, when the store knows.
    public var retryAfter: Int?

    public init(_ kind: Kind, _ reason: String, operation: String? = nil, status: Int? = nil, code: String? = nil,
                requestID: String? = nil, retryAfter: Int? = nil) {
        self.kind = kind
        self.reason = reason
        self.operation = operation
        self.status = status
        self.code = code
        self.requestID = requestID
        self.retryAfter = retryAfter
    }

    public init(stringLiteral value: String) { self.init(.other, value) }
    public init(stringInterpolation: DefaultStringInterpolation) { self.init(.other, String(stringInterpolation: stringInterpolation)) }

    public var description: String { reason }

    /// The fields, for a structured log line.
    public var logFields: [(String, String)] {
        var f: [(String, String)] = [("kind", kind.rawValue)]
        if let operation { f.append(("operation", operation)) }
        if let status { f.append(("status", String(status))) }
        if let code { f.append(("code", code)) }
        if let requestID { f.append(("request_id_s3", requestID)) }
        return f
    }
}
