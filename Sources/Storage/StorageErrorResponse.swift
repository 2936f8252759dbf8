import HTTP

/// What the client sees when storage fails and the route has nothing more specific
/// to say. A store that cannot be reached is a 503 with `Retry-After`, never a 500.
extension StorageError: HTTPResponseError {
    public var status: Status {
        switch self {
        case .unavailable: .serviceUnavailable
        case .notFound: .notFound
        case .alreadyExists: .conflict
        case .preconditionFailed: .preconditionFailed
        case .invalidKey: .unprocessable
        }
    }

    public var headers: Headers {
        // When the store knows (the circuit breaker's cool-down), say when to come back.
        if case .unavailable(let failure) = self { return HTTPError.retryAfterHeaders(failure.retryAfter ?? 5) }
        return Headers()
    }

    public var detail: String {
        switch self {
        case .unavailable: "Storage is temporarily unavailable; please try again later."
        case .notFound: "Not found."
        case .alreadyExists: "It already exists; nothing was overwritten."
        case .preconditionFailed: "The stored version has changed since it was read."
        case .invalidKey: "Invalid identifier."
        }
    }

    public var logEntry: ErrorLogEntry? {
        switch self {
        case .unavailable(let failure):
            ErrorLogEntry(.warning, "storage unavailable", [("error", failure.reason)] + failure.logFields.map { ($0.0, $0.1 as Any) })
        // Ids are checked before any key is built: one that still fails is our bug.
        case .invalidKey(let key): ErrorLogEntry(.error, "an invalid storage key reached a store", [("key", key)])
        default: nil
        }
    }
}
