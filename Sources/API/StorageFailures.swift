import Diagnostics
import HTTP
import Storage

/// How storage failures reach the client when a route has nothing more specific to
/// say. A store that cannot be reached is a 503 with `Retry-After`, never a 500.
enum StorageFailures {
    static func translating<T>(_ request: Request, _ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as StorageError {
            throw http(error, request)
        }
    }

    static func http(_ error: StorageError, _ request: Request) -> HTTPError {
        switch error {
        case .unavailable(let failure):
            Log.emit(.warning, "storage unavailable", fields: [("request_id", request.requestID), ("path", request.rawPath),
                                                               ("error", failure.reason)] + failure.logFields.map { ($0.0, $0.1 as Any) })
            return HTTPError.unavailable("Storage is temporarily unavailable; please try again later.",
                                         retryAfter: failure.retryAfter ?? 5)
        case .notFound:
            return HTTPError.notFound("Not found.")
        case .alreadyExists:
            return HTTPError(.conflict, "It already exists; nothing was overwritten.")
        case .preconditionFailed:
            return HTTPError(.preconditionFailed, "The stored version has changed since it was read.")
        case .invalidKey(let key):
            Log.error("an invalid storage key reached a store", ["request_id": request.requestID, "key": key])
            return HTTPError.unprocessable("Invalid identifier.")
        }
    }
}
