import Diagnostics
import JSON

/// The one mapping from errors to responses, used by the router (handlers) and the
/// transport (streamed bodies that fail before their head is sent): an
/// `HTTPResponseError` says its own status; anything else is logged and becomes a
/// 500 whose body says nothing about the cause.
public enum ErrorResponse {
    /// `message` is the log line for an error that says no status of its own.
    public static func response(for error: any Error, request: Request, unhandled message: String = "unhandled error") -> Response {
        guard let error = error as? any HTTPResponseError else {
            Log.error(message, ["request_id": request.requestID, "error": String(describing: error)])
            return render(status: .internalServerError, detail: "Internal Server Error", headers: Headers())
        }
        if let entry = error.logEntry {
            Log.emit(entry.level, entry.message, fields: [("request_id", request.requestID), ("path", request.rawPath)] + entry.fields)
        }
        return render(error)
    }

    /// The body every error response has: `{"detail": "..."}`, as FastAPI writes it.
    public static func render(_ error: any HTTPResponseError) -> Response {
        render(status: error.status, detail: error.detail, headers: error.headers)
    }

    static func render(status: Status, detail: String, headers: Headers) -> Response {
        Response.json(.object(JSONObject([("detail", .string(detail))])), status: status, headers: headers)
    }
}
