import Diagnostics
import HTTP
import JSON
import Storage

/// storage-info, and the probes an orchestrator or `make run` polls.
struct ServiceRoutes {
    let context: APIContext

    /// GET /api/v1/upload/storage-info (a token is needed like everywhere under /api/v1).
    func storageInfo(_ request: Request, _ route: RouteContext) throws -> Response {
        _ = try context.caller(request)
        let o = context.options
        return Response.json(.object(JSONObject([
            ("storage_mode", .string(o.savesToS3 ? "S3" : "LOCAL")),
            ("s3_enabled", .bool(o.savesToS3)),
            ("bucket_name", o.bucket.map(JSON.string) ?? .null),
            ("region", o.bucket == nil ? .null : .string(o.region)),
            ("fallback_to_local", .bool(o.savesToS3 && o.fallbackToLocal)),
            ("read_stores", .array(context.storage.stores.map { .string($0.kind.rawValue) })),
            ("max_upload_bytes", .number(String(o.maxUploadBytes))),
            ("retention_days", .int(o.retentionDays)),
        ])))
    }

    /// GET /healthz: the responder answers.
    func health(_ request: Request, _ route: RouteContext) -> Response {
        Response.json(.object(JSONObject([("status", .string("ok"))])))
    }

    /// GET /readyz: the host can serve — the authenticator has keys and saves can
    /// be stored. In S3 mode with the local fallback, a local disk that accepts
    /// writes is enough: S3 being down is then a `warnings` entry, not a reason to
    /// take every host out of rotation at once. The body names parts in general
    /// words only; endpoints, buckets and library text go to the log.
    func ready(_ request: Request, _ route: RouteContext) throws -> Response {
        var warnings: [String] = []
        var problems: [String] = []
        let storage = context.storage
        if let failure = Self.unreachable(storage.active, request) {
            let part = Self.name(of: storage.active) + " unreachable"
            if let fallback = storage.fallback {
                if Self.unreachable(fallback, request) == nil {
                    warnings.append(part + "; saves are stored locally")
                } else {
                    problems += [part, Self.name(of: fallback) + " not writable"]
                }
            } else {
                problems.append(part)
            }
            _ = failure
        }
        if let problem = context.authenticator.readinessProblem() { problems.append(problem) }
        guard problems.isEmpty else {
            throw HTTPError.unavailable("Not ready: " + problems.joined(separator: ", ") + ".")
        }
        var body = JSONObject([("status", .string("ready"))])
        // Stale keys still verify tokens: worth saying, not worth taking the service out.
        if let warning = context.authenticator.readinessWarning() {
            body["warning"] = .string(warning)
            warnings.append(warning)
        }
        if !warnings.isEmpty { body["warnings"] = .array(warnings.map(JSON.string)) }
        return Response.json(.object(body))
    }

    static func name(of store: any ObjectStore) -> String {
        store.kind == .s3 ? "s3" : "local storage"
    }

    /// The store's failure, logged in full; nil when it answers.
    static func unreachable(_ store: any ObjectStore, _ request: Request) -> StorageError? {
        do {
            try store.checkReachable()
            return nil
        } catch {
            let failure = error as? StorageError ?? .unavailable("\(error)")
            Log.warning("readiness: store unreachable", ["request_id": request.requestID, "store": store.kind.rawValue,
                                                         "error": String(describing: error)])
            return failure
        }
    }
}
