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

    func handle(_ request: Request) throws -> Response {
        let caller = try context.caller(request)
        let maxAudio = context.configuration.maxUploadBytes
        let form = try MultipartReader.read(request.body, contentType: request.headers["Content-Type"],
                                            tempDirectory: context.temporaryDirectory) { name in
            switch name {
            case "audio": .file(maxBytes: maxAudio)
            case "transcript": .textOrFile(maxBytes: Self.maxTranscriptBytes)
            case "metadata": .text(maxBytes: Self.maxMetadataBytes)
            case "user_id", "session_id": .text(maxBytes: Self.maxIDPartBytes)
            default: .ignore
            }
        }
        defer { form.removeTemporaryFiles() }

        let user = try context.user(try Self.text(form, "user_id"), caller: caller)
        let now = context.now()
        let givenSession = try Self.text(form, "session_id") ?? ""
        let session = givenSession.isEmpty ? Identifiers.newSessionID(at: now) : try Identifiers.checkSessionID(givenSession)
        try context.requireOwner(user, caller: caller)
        let givenMetadata = try Self.text(form, "metadata") ?? ""
        let client = givenMetadata.isEmpty ? ClientMetadata() : try ClientMetadata(part: Array(givenMetadata.utf8))

        guard case .file(let audio)? = form["audio"] else {
            throw HTTPError.unprocessable("The audio part is required (a file field named \"audio\").")
        }
        guard let format = AudioFormat.sniff(audio.prefix) else {
            throw HTTPError(.unsupportedMediaType, "The audio is not in a recognised format (WAV, WebM, Ogg, MP3, M4A or FLAC).")
        }
        let (transcript, transcriptBytes) = try Self.transcript(form["transcript"])

        var duration = client.duration ?? .null
        if client.duration == nil, format == .wav, let seconds = WAVDuration.seconds(ofFileAt: audio.path) {
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
        do {
            kind = try context.storage.create(prefix: Layout.recordingPrefix(user, session)) { kind in
                let m = metadata(kind)
                saved = m
                return [
                    NewObject(key: audioKey, content: .file(StagedFile(path: audio.path, size: audio.size, sha256: audio.sha256)),
                              contentType: format.contentType),
                    NewObject(key: transcriptKey, content: transcript, contentType: "text/plain; charset=utf-8"),
                    NewObject(key: Layout.metadataKey(user, session), content: .bytes(JSON.object(m).bytes), contentType: "application/json"),
                ]
            }
        } catch StorageError.alreadyExists {
            throw HTTPError(.conflict, "A recording with session_id \(session) already exists; nothing was overwritten.")
        }
        Log.info("recording saved", ["request_id": request.requestID, "user_id": user, "session_id": session,
                                     "storage": kind.rawValue, "audio_bytes": audio.size])
        let info = RecordingInfo(user: user, session: session, metadata: saved!, storage: kind, lastModified: now)
        return Response.json(info.json, status: .created)
    }

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
