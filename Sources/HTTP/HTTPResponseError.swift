import Diagnostics

/// An error that knows what the client should see: its status, extra headers and the
/// `detail` of the `{"detail": "..."}` body (in the spirit of hummingbird's
/// `HTTPResponseError`). Modules conform their own errors (`StorageError` in Storage,
/// `TokenFailure` in Auth, `HTTPError` here), and `ErrorResponse` is the one place
/// that turns any error into a response. An error that does not conform is a 500.
public protocol HTTPResponseError: Error {
    var status: Status { get }
    var headers: Headers { get }
    /// Safe to show the client: never a path, key, token or stack of causes.
    var detail: String { get }
    /// What the service's log should say when this error answers a request, if
    /// anything (e.g. a store that cannot be reached); `ErrorResponse` adds the
    /// request id and path.
    var logEntry: ErrorLogEntry? { get }
}

extension HTTPResponseError {
    public var headers: Headers { Headers() }
    public var logEntry: ErrorLogEntry? { nil }
}

/// A log line that goes with an error response.
public struct ErrorLogEntry {
    public var level: Log.Level
    public var message: String
    public var fields: [(String, Any)]

    public init(_ level: Log.Level, _ message: String, _ fields: [(String, Any)] = []) {
        self.level = level
        self.message = message
        self.fields = fields
    }
}
