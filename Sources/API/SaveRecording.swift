#if canImport(Glibc)
import Glibc
#endif
import Diagnostics
import Foundation
import HTTP
import JSON
import Storage
import Uploads

/// POST /api/v1/save_recording_details: a streamed multipart form. The audio goes
/// to a temporary file as it arrives; audio and transcript are stored before the
/// metadata, create-only, so a half-done save is never listed and an existing
/// recording is never touched (409).
struct SaveRecording {
    let context: APIContext

    static let maxTranscriptBytes = 10 * 1024 * 1024
    static let maxMetadataBytes = 64 * 1024
    /// Far above any valid id, so a long id is a 422, not a 413.
    static let maxIDPartBytes = 4096

    func handle(_ request: Request, _ route: RouteContext) throws -> Response {
        let caller = try context.caller(request)
        let maxAudio = context.options.maxUploadBytes
        // Reading (and staging) the body is timed apart from the storage calls after it.
        let form = try RequestContext.measure(.body) { try MultipartReader.read(request.body, contentType: request.headers["Content-Type"],
                                            tempDirectory: context.temporaryDirectory) { name in
            switch name {
            case "audio": .file(maxBytes: maxAudio)
            case "audio_upload": .text(maxBytes: Self.maxIDPartBytes)
            case "transcript": .textOrFile(maxBytes: Self.maxTranscriptBytes)
            case "metadata": .text(maxBytes: Self.maxMetadataBytes)
            case "user_id", "session_id": .text(maxBytes: Self.maxIDPartBytes)
            default: .ignore
            }
        } }
        defer { form.removeTemporaryFiles() }

        let user = try context.user(try Self.text(form, "user_id"), caller: caller)
        let now = context.now()
        let givenSession = try Self.text(form, "session_id") ?? ""
        let session = givenSession.isEmpty ? Identifiers.newSessionID(at: now) : try Identifiers.checkSessionID(givenSession)
        try context.requireOwner(user, caller: caller)
        let givenMetadata = try Self.text(form, "metadata") ?? ""
        let client = givenMetadata.isEmpty ? ClientMetadata() : try ClientMetadata(part: Array(givenMetadata.utf8))

        let audio = try audioSource(form, caller: caller, maxAudio: maxAudio)
        let format = audio.format
        let (transcript, transcriptBytes) = try Self.transcript(form["transcript"])

        var duration = client.duration ?? .null
        if client.duration == nil, let seconds = audio.wavSeconds() {
            duration = .double((seconds * 1000).rounded() / 1000)
        }
        let audioKey = Layout.audioKey(user, session, format)
        let transcriptKey = Layout.transcriptKey(user, session)
        func metadata(_ kind: StoreKind) -> JSONObject {
            var m = JSONObject([
                ("session_id", .string(session)),
                ("user_id", .string(user)),
                ("name", .string(client.name ?? session)),
                ("created_at", .string(Timestamp.iso8601(now))),
                ("duration", duration),
                ("tags", .array(client.tags)),
                ("notes", .string(client.notes ?? "")),
                ("audio_key", .string(audioKey)),
                ("audio_content_type", .string(format.contentType)),
                ("audio_bytes", .number(String(audio.size))),
                ("audio_sha256", .string(audio.sha256)),
                ("transcript_key", .string(transcriptKey)),
                ("transcript_bytes", .number(String(transcriptBytes))),
                ("storage", .string(kind.rawValue)),
            ])
            // The client's other keys, but never in place of the server's own.
            for (key, value) in client.extra where m[key] == nil { m[key] = value }
            return m
        }

        var saved: JSONObject?
        let kind: StoreKind
        // The save's storage budget starts now that the upload has arrived: the
        // configured seconds, plus one per MiB to carry the audio to the store.
        let budget = Double(context.options.saveBudgetSeconds) + Double(audio.size) / (1024 * 1024)
        do {
            kind = try Deadline.with(Deadline(secondsFromNow: budget)) {
              try context.storage.create(prefix: Layout.recordingPrefix(user, session), commitName: Layout.metadataName) { kind in
                let m = metadata(kind)
                saved = m
                return [
                    NewObject(key: audioKey, content: try audio.content(kind), contentType: format.contentType),
                    NewObject(key: transcriptKey, content: transcript, contentType: "text/plain; charset=utf-8"),
                    NewObject(key: Layout.metadataKey(user, session), content: .bytes(JSON.object(m).bytes), contentType: "application/json"),
                ]
              }
            }
        } catch StorageError.alreadyExists {
            throw HTTPError(.conflict, "A recording with session_id \(session) already exists; nothing was overwritten.")
        }
        if let upload = audio.upload {
            // Saved: the upload has served its purpose (its bytes now are the recording's).
            do { try context.uploads.remove(id: upload.id) } catch {
                Log.warning("saved upload not removed yet; the sweep will", ["upload_id": upload.id, "error": String(describing: error)])
            }
        }
        Log.info("recording saved", ["request_id": request.requestID, "user_id": user, "session_id": session,
                                     "storage": kind.rawValue, "audio_bytes": audio.size])
        let info = RecordingInfo(user: user, session: session, metadata: saved!, storage: kind, lastModified: now)
        return Response.json(info.json, status: .created)
    }

    /// Where the audio comes from: the `audio` file part, or (`audio_upload`) a
    /// complete resumable upload of the caller's, checked like an audio part.
    func audioSource(_ form: MultipartForm, caller: String, maxAudio: Int64) throws -> AudioSource {
        let reference = try Self.text(form, "audio_upload")
        switch (form["audio"], reference) {
        case (.file(let file)?, nil):
            guard let format = AudioFormat.sniff(file.prefix) else { throw Self.unrecognised }
            return AudioSource(format: format, size: file.size, sha256: file.sha256, file: file, upload: nil, uploads: context.uploads)
        case (nil, let reference?):
            guard let id = TusHeaders.uploadID(reference: reference) else { throw UploadRefusal.notFound }
            let record = try UploadRoutes.owned(id, caller: caller, context: context)
            guard record.isComplete else {
                throw HTTPError(.conflict, "The upload is not complete (\(record.offset) of \(record.length) bytes); finish it first.")
            }
            guard record.length <= maxAudio else { throw HTTPError.tooLarge("The audio is larger than \(maxAudio) bytes.") }
            guard let format = AudioFormat.sniff(Array(record.head.prefix(64))) else { throw Self.unrecognised }
            return AudioSource(format: format, size: record.length, sha256: record.hash.hexDigest(), file: nil, upload: record,
                               uploads: context.uploads)
        case (.some, .some):
            throw HTTPError.unprocessable("Send either an audio part or audio_upload, not both.")
        default:
            throw HTTPError.unprocessable("The audio part is required (a file field named \"audio\", or audio_upload naming a complete upload).")
        }
    }

    static let unrecognised = HTTPError(.unsupportedMediaType, "The audio is not in a recognised format (WAV, WebM, Ogg, MP3, M4A or FLAC).")

    /// A text part as a string; nil when absent.
    static func text(_ form: MultipartForm, _ name: String) throws -> String? {
        switch form[name] {
        case nil: return nil
        case .text(let bytes)?:
            guard let s = String(validating: bytes, as: UTF8.self) else { throw HTTPError.unprocessable("\(name) must be UTF-8 text.") }
            return s
        case .file?:
            throw HTTPError.unprocessable("\(name) must be a text field, not a file.")
        }
    }

    /// The transcript (text field or file), checked to be UTF-8; empty when absent.
    static func transcript(_ value: FormValue?) throws -> (NewObject.Content, Int64) {
        let invalid = HTTPError.unprocessable("The transcript is not valid UTF-8 text.")
        switch value {
        case nil:
            return (.bytes([]), 0)
        case .text(let bytes)?:
            guard UTF8Validation.isValid(bytes) else { throw invalid }
            return (.bytes(bytes), Int64(bytes.count))
        case .file(let file)?:
            // At most 10 MiB (the part's limit): checked in memory, stored from the file.
            guard let data = FileManager.default.contents(atPath: file.path) else {
                throw HTTPError.unavailable("The uploaded transcript could not be read back.")
            }
            guard UTF8Validation.isValid(data) else { throw invalid }
            return (.file(StagedFile(path: file.path, size: file.size, sha256: file.sha256)), file.size)
        }
    }
}

/// The audio of a save, from a multipart part or a resumable upload.
final class AudioSource {
    let format: AudioFormat
    let size: Int64
    let sha256: String
    let file: UploadedFile?
    let upload: UploadRecord?
    let uploads: any UploadStore
    /// Files `content` made for a store to take (a link to an upload's data).
    private var staged: [String] = []

    init(format: AudioFormat, size: Int64, sha256: String, file: UploadedFile?, upload: UploadRecord?, uploads: any UploadStore) {
        self.format = format
        self.size = size
        self.sha256 = sha256
        self.file = file
        self.upload = upload
        self.uploads = uploads
    }

    deinit {
        for path in staged { unlink(path) }
    }

    func wavSeconds() -> Double? {
        guard format == .wav else { return nil }
        if let file { return WAVDuration.seconds(ofFileAt: file.path) }
        if let upload { return WAVDuration.seconds(head: upload.head, fileSize: upload.length) }
        return nil
    }

    /// The audio as content for a store of `kind`. An upload lives in the active
    /// store only, so it cannot go to a fallback store: that save is a 503.
    func content(_ kind: StoreKind) throws -> NewObject.Content {
        if let file { return .file(StagedFile(path: file.path, size: file.size, sha256: file.sha256)) }
        // A refusal (another save of this upload at the same moment) says its own status: 409.
        let content = try uploads.content(of: upload!)
        if case .file(let staged) = content { self.staged.append(staged.path) }
        if case .copy(let source) = content, source.store != kind {
            throw StorageError.unavailable("the upload lives in the \(source.store.rawValue) store, which cannot be written")
        }
        return content
    }
}
