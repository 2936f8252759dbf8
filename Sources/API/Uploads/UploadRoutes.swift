import Diagnostics
import Foundation
import HTTP
import Storage

/// Resumable uploads, tus 1.0.0 (core, creation, creation-with-upload, termination,
/// expiration) under /api/v1/uploads. The bytes go to the active store's
/// `UploadStore` as they arrive; a save then takes a complete upload by reference.
struct UploadRoutes {
    let context: APIContext
    var uploads: any UploadStore { context.uploads }
    static let collection = "/api/v1/uploads"

    /// Every tus answer, errors included, says which protocol it speaks.
    func tus(_ request: Request, _ handler: (Request) throws -> Response) -> Response {
        var response: Response
        do {
            response = try handler(request)
        } catch {
            response = ErrorResponse.response(for: error, request: request)
        }
        response.headers.set("Tus-Resumable", TusHeaders.version)
        return response
    }

    // MARK: OPTIONS (no token)

    func options(_ request: Request, _ route: RouteContext) -> Response {
        var h = Headers()
        h.set("Tus-Resumable", TusHeaders.version)
        h.set("Tus-Version", TusHeaders.version)
        h.set("Tus-Extension", TusHeaders.extensions)
        h.set("Tus-Max-Size", String(context.options.maxUploadBytes))
        return Response(status: Status(204), headers: h)
    }

    // MARK: POST (creation, creation-with-upload)

    func create(_ request: Request, _ route: RouteContext) -> Response {
        tus(request) { request in
            try TusHeaders.checkVersion(request)
            let caller = try context.caller(request)
            if request.headers["Upload-Defer-Length"] != nil {
                throw HTTPError.badRequest("Upload-Defer-Length is not supported: send Upload-Length.")
            }
            guard let length = try TusHeaders.integer(request, "Upload-Length") else {
                throw HTTPError.badRequest("Upload-Length is required.")
            }
            let max = context.options.maxUploadBytes
            guard length <= max else { throw HTTPError.tooLarge("Upload-Length is above the limit of \(max) bytes.") }
            let metadata = try TusHeaders.metadata(request)
            let withBody = TusHeaders.hasOffsetBody(request)
            if withBody, let sent = try TusHeaders.integer(request, "Content-Length"), sent > length {
                throw HTTPError.tooLarge("The body is longer than Upload-Length (\(length) bytes).")
            }
            let now = context.now()
            var record = UploadRecord(id: UploadID.make(), owner: caller, length: length, metadata: metadata,
                                      created: now, expires: expiry(now))
            try uploads.create(record)
            if withBody {
                do {
                    record = try uploads.append(id: record.id, owner: caller, at: 0, now: now, expires: expiry(now)) {
                        try request.body.read(into: $0)
                    }
                } catch let error as UploadRefusal {
                    try? uploads.remove(id: record.id)
                    throw error
                } catch let error as StorageError {
                    try? uploads.remove(id: record.id)
                    throw error
                }
            }
            Log.info("upload created", ["request_id": request.requestID, "upload_id": record.id, "length": length,
                                        "offset": record.offset])
            var h = Headers()
            h.set("Location", Self.collection + "/" + record.id)
            h.set("Upload-Expires", IMFFixdate.format(record.expires))
            if withBody { h.set("Upload-Offset", String(record.offset)) }
            return Response(status: .created, headers: h)
        }
    }

    func expiry(_ now: Date) -> Date { now.addingTimeInterval(TimeInterval(context.options.uploadExpirySeconds)) }

    /// The caller's live upload named by the path, else 404 (another caller's id
    /// too). An expired upload is reclaimed on the way.
    func owned(_ route: RouteContext, caller: String) throws -> UploadRecord {
        try Self.owned(route.parameter("upload_id"), caller: caller, context: context)
    }

    static func owned(_ id: String, caller: String, context: APIContext) throws -> UploadRecord {
        guard UploadID.isValid(id), let record = try context.uploads.record(id: id), record.owner == caller else {
            throw UploadRefusal.notFound
        }
        guard record.expires > context.now() else {
            do { try context.uploads.remove(id: id) } catch {
                Log.warning("expired upload not removed yet", ["upload_id": id, "error": String(describing: error)])
            }
            throw UploadRefusal.notFound
        }
        return record
    }

    // MARK: HEAD

    func head(_ request: Request, _ route: RouteContext) -> Response {
        tus(request) { request in
            try TusHeaders.checkVersion(request)
            let caller = try context.caller(request)
            let record = try owned(route, caller: caller)
            var h = Headers()
            h.set("Upload-Offset", String(record.offset))
            h.set("Upload-Length", String(record.length))
            if let metadata = record.metadata { h.set("Upload-Metadata", metadata) }
            h.set("Upload-Expires", IMFFixdate.format(record.expires))
            h.set("Cache-Control", "no-store")
            return Response(status: .ok, headers: h)
        }
    }

    // MARK: PATCH

    func patch(_ request: Request, _ route: RouteContext) -> Response {
        tus(request) { request in
            try TusHeaders.checkVersion(request)
            let caller = try context.caller(request)
            guard TusHeaders.hasOffsetBody(request) else {
                throw HTTPError(.unsupportedMediaType, "Content-Type must be \(TusHeaders.offsetContentType).")
            }
            guard let offset = try TusHeaders.integer(request, "Upload-Offset") else {
                throw HTTPError.badRequest("Upload-Offset is required.")
            }
            let record = try owned(route, caller: caller)
            guard record.offset == offset else { throw UploadRefusal.offsetMismatch(stored: record.offset) }
            if let sent = try TusHeaders.integer(request, "Content-Length"), sent > record.length - offset {
                throw UploadRefusal.pastLength(length: record.length)
            }
            let now = context.now()
            let updated = try uploads.append(id: record.id, owner: caller, at: offset, now: now, expires: expiry(now)) {
                try request.body.read(into: $0)
            }
            var h = Headers()
            h.set("Upload-Offset", String(updated.offset))
            h.set("Upload-Expires", IMFFixdate.format(updated.expires))
            return Response(status: Status(204), headers: h)
        }
    }

    // MARK: X-HTTP-Method-Override

    /// tus clients in environments that cannot send PATCH or DELETE (some browsers,
    /// proxies) send POST with `X-HTTP-Method-Override`, as the protocol allows.
    func override(_ request: Request, _ route: RouteContext) -> Response {
        switch request.headers["X-HTTP-Method-Override"]?.trimmingCharacters(in: .whitespaces).uppercased() {
        case "PATCH": return patch(request, route)
        case "DELETE": return delete(request, route)
        case "HEAD": return head(request, route)
        default:
            return tus(request) { _ in
                var h = Headers()
                h.set("Allow", "HEAD, PATCH, DELETE, OPTIONS")
                throw HTTPError(.methodNotAllowed, "Method Not Allowed", headers: h)
            }
        }
    }

    // MARK: DELETE (termination)

    func delete(_ request: Request, _ route: RouteContext) -> Response {
        tus(request) { request in
            try TusHeaders.checkVersion(request)
            let caller = try context.caller(request)
            let record = try owned(route, caller: caller)
            try uploads.remove(id: record.id)
            Log.info("upload terminated", ["request_id": request.requestID, "upload_id": record.id])
            return Response(status: Status(204))
        }
    }
}
