import JSON

/// A failure with a status the client should see, rendered as FastAPI does:
/// `{"detail": "..."}`.
public struct HTTPError: Error, CustomStringConvertible {
    public var status: Status
    public var detail: String
    public var headers: Headers

    public init(_ status: Status, _ detail: String, headers: Headers = Headers()) {
        self.status = status
        self.detail = detail
        self.headers = headers
    }

    public var description: String { "\(status.rawValue) \(detail)" }

    public var response: Response {
        Response.json(.object(JSONObject([("detail", .string(detail))])), status: status, headers: headers)
    }

    public static func badRequest(_ d: String) -> HTTPError { HTTPError(.badRequest, d) }
    public static func notFound(_ d: String = "Not Found") -> HTTPError { HTTPError(.notFound, d) }
    public static func forbidden(_ d: String) -> HTTPError { HTTPError(.forbidden, d) }
    public static func unprocessable(_ d: String) -> HTTPError { HTTPError(.unprocessable, d) }
    public static func tooLarge(_ d: String) -> HTTPError { HTTPError(.payloadTooLarge, d) }
    public static func unavailable(_ d: String, retryAfter: Int = 5) -> HTTPError {
        var h = Headers()
        h.set("Retry-After", String(retryAfter))
        return HTTPError(.serviceUnavailable, d, headers: h)
    }
}
