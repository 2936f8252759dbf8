/// A failure raised at the HTTP level with the status the client should see
/// (a bad form, a forbidden id, a body too large ...). Other modules' errors say
/// their status through `HTTPResponseError` instead of being converted to this.
public struct HTTPError: HTTPResponseError, CustomStringConvertible {
    public var status: Status
    public var detail: String
    public var headers: Headers

    public init(_ status: Status, _ detail: String, headers: Headers = Headers()) {
        self.status = status
        self.detail = detail
        self.headers = headers
    }

    public var description: String { "\(status.rawValue) \(detail)" }

    /// `{"detail": ...}` with this status and headers (`ErrorResponse.render`).
    public var response: Response { ErrorResponse.render(self) }

    public static func badRequest(_ d: String) -> HTTPError { HTTPError(.badRequest, d) }
    public static func notFound(_ d: String = "Not Found") -> HTTPError { HTTPError(.notFound, d) }
    public static func forbidden(_ d: String) -> HTTPError { HTTPError(.forbidden, d) }
    public static func unprocessable(_ d: String) -> HTTPError { HTTPError(.unprocessable, d) }
    public static func tooLarge(_ d: String) -> HTTPError { HTTPError(.payloadTooLarge, d) }
    public static func unavailable(_ d: String, retryAfter: Int = 5) -> HTTPError {
        HTTPError(.serviceUnavailable, d, headers: retryAfterHeaders(retryAfter))
    }

    /// `Retry-After: seconds`, for every 503.
    public static func retryAfterHeaders(_ seconds: Int) -> Headers {
        var h = Headers()
        h.set("Retry-After", String(seconds))
        return h
    }
}
