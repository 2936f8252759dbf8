import HTTP
import JSON
import Storage

/// storage-info, and the probes an orchestrator or `make run` polls.
struct ServiceRoutes {
    let context: APIContext

    /// GET /api/v1/upload/storage-info (a token is needed like everywhere under /api/v1).
    func storageInfo(_ request: Request) throws -> Response {
        _ = try context.caller(request)
        let c = context.configuration
        return Response.json(.object(JSONObject([
            ("storage_mode", .string(c.storage.rawValue)),
            ("s3_enabled", .bool(c.storage == .s3)),
            ("bucket_name", c.bucket.map(JSON.string) ?? .null),
            ("region", c.bucket == nil ? .null : .string(c.region)),
            ("fallback_to_local", .bool(c.storage == .s3 && c.fallbackToLocal)),
            ("read_stores", .array(context.storage.stores.map { .string($0.kind.rawValue) })),
            ("max_upload_bytes", .number(String(c.maxUploadBytes))),
            ("retention_days", .int(c.retentionDays)),
        ])))
    }

    /// GET /healthz: the responder answers.
    func health(_ request: Request) -> Response {
        Response.json(.object(JSONObject([("status", .string("ok"))])))
    }

    /// GET /readyz: the active store is reachable and the authenticator has keys.
    func ready(_ request: Request) throws -> Response {
        do {
            try context.storage.active.checkReachable()
        } catch {
            throw HTTPError.unavailable("Not ready: the \(context.storage.active.kind.rawValue) store is unreachable (\(error)).")
        }
        if let problem = context.authenticator.readinessProblem() {
            throw HTTPError.unavailable("Not ready: \(problem).")
        }
        var body = JSONObject([("status", .string("ready"))])
        // Stale keys still verify tokens: worth saying, not worth taking the service out.
        if let warning = context.authenticator.readinessWarning() { body["warning"] = .string(warning) }
        return Response.json(.object(body))
    }
}
