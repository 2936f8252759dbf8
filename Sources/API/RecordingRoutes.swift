import Diagnostics
import HTTP
import JSON
import Storage

/// One recording's metadata and the store that holds it.
struct StoredRecording {
    let user: String
    let session: String
    let metadata: JSONObject
    let object: StoredObject

    var info: RecordingInfo {
        RecordingInfo(user: user, session: session, metadata: metadata, storage: object.kind, lastModified: object.info.lastModified)
    }
}

/// GET one recording, its audio, its transcript; DELETE it.
struct RecordingRoutes {
    let context: APIContext

    /// The recording's metadata from the first store holding it (the active one
    /// first). 404 when no store does; 503 when a store that could hold it is down.
    func find(_ user: String, _ session: String) throws -> StoredRecording {
        let key = Layout.metadataKey(user, session)
        guard let (object, bytes) = try context.storage.get(key: key) else { throw Self.notFound }
        guard case .object(let metadata)? = try? JSON.parse(bytes) else {
            Log.warning("unreadable recording metadata", ["key": key, "store": object.kind.rawValue])
            throw Self.notFound
        }
        return StoredRecording(user: user, session: session, metadata: metadata, object: object)
    }

    static let notFound = HTTPError.notFound("Recording not found.")

    func get(_ request: Request, _ route: RouteContext) throws -> Response {
        let (user, session) = try context.recordingIDs(request, route)
        return Response.json(try find(user, session).info.json)
    }

    func transcript(_ request: Request, _ route: RouteContext) throws -> Response {
        let (user, session) = try context.recordingIDs(request, route)
        let recording = try find(user, session)
        let store = context.storage.stores[recording.object.store]
        do {
            let (bytes, _) = try store.get(key: Layout.transcriptKey(user, session))
            var headers = Headers()
            headers.set("Content-Type", "text/plain; charset=utf-8")
            return Response(status: .ok, headers: headers, body: .bytes(bytes))
        } catch StorageError.notFound {
            throw HTTPError.notFound("The recording has no transcript.")
        }
    }

    func audio(_ request: Request, _ route: RouteContext) throws -> Response {
        let (user, session) = try context.recordingIDs(request, route)
        let recording = try find(user, session)
        let store = context.storage.stores[recording.object.store]
        guard let (key, format) = try audioKey(of: recording, in: store), let info = try store.head(key: key) else {
            throw HTTPError.notFound("The recording has no audio.")
        }
        var headers = Headers()
        headers.set("Content-Type", format.contentType)
        headers.set("Cache-Control", "private, no-cache")

        if context.options.redirectsAudioToS3,
           let url = store.presignedURL(key: key, seconds: min(context.options.presignSeconds, 900)) {
            headers.set("Location", url)
            headers.set("Cache-Control", "no-store")
            return Response(status: .found, headers: headers)
        }
        if store.localPath(key: key) != nil, let prefix = request.serverParameters["RECSTORE_ACCEL_PREFIX"], !prefix.isEmpty {
            // nginx serves the file (and any Range) from an internal location; this
            // worker is free at once. A range past the end is refused here, so that
            // it gets the API's JSON 416 rather than nginx's HTML one.
            if RangeHeader.resolve(request.headers["Range"], size: info.size) == .unsatisfiable {
                throw Self.unsatisfiable(size: info.size)
            }
            let encoded = key.split(separator: "/").map { PercentDecoding.encodeSegment(String($0)) }.joined(separator: "/")
            headers.set("X-Accel-Redirect", (prefix.hasSuffix("/") ? prefix : prefix + "/") + encoded)
            return Response(status: .ok, headers: headers)
        }

        headers.set("Accept-Ranges", "bytes")
        headers.set("ETag", "\"\(info.etag)\"")
        var status = Status.ok
        var range: ByteRange?
        switch RangeHeader.resolve(request.headers["Range"], size: info.size) {
        case .whole:
            break
        case .partial(let r):
            status = .partialContent
            range = r
            headers.set("Content-Range", "bytes \(r.first)-\(r.last)/\(info.size)")
        case .unsatisfiable:
            throw Self.unsatisfiable(size: info.size)
        }
        let offset = range?.first ?? 0
        let length = range?.length ?? info.size
        if let path = store.localPath(key: key) {
            return Response(status: status, headers: headers, body: .file(path: path, offset: offset, length: length))
        }
        headers.set("Content-Length", String(length))
        return Response(status: status, headers: headers, body: .stream { writer in
            try store.read(key: key, range: range) { try writer.write($0) }
        })
    }

    static func unsatisfiable(size: Int64) -> HTTPError {
        var h = Headers()
        h.set("Content-Range", "bytes */\(size)")
        return HTTPError(.rangeNotSatisfiable, "The requested range is not within the audio's \(size) bytes.", headers: h)
    }

    /// The audio's key: the one the metadata names if it is this recording's,
    /// else whichever `audio.*` the store holds under the recording.
    func audioKey(of recording: StoredRecording, in store: any ObjectStore) throws -> (String, AudioFormat)? {
        if let named = recording.metadata["audio_key"]?.stringValue,
           let format = Layout.audioFormat(ofKey: named, recording.user, recording.session) {
            return (named, format)
        }
        for object in try store.list(prefix: Layout.recordingPrefix(recording.user, recording.session) + "audio.") {
            if let format = Layout.audioFormat(ofKey: object.key, recording.user, recording.session) { return (object.key, format) }
        }
        return nil
    }

    func delete(_ request: Request, _ route: RouteContext) throws -> Response {
        let (user, session) = try context.recordingIDs(request, route)
        let count = try context.storage.delete(prefix: Layout.recordingPrefix(user, session))
        guard count > 0 else { throw Self.notFound }
        Log.info("recording deleted", ["request_id": request.requestID, "user_id": user, "session_id": session, "objects": count])
        return Response.json(.object(JSONObject([("session_id", .string(session)), ("deleted_objects", .int(count))])))
    }
}
