import Diagnostics
import Foundation
import JSON
import Storage

/// A recording as the API shows it (API.md's RecordingInfo), from its stored
/// `session_metadata.json`. Ids come from the key, never from the file; fields
/// the file lacks get their defaults, so older or hand-made files still show.
struct RecordingInfo {
    let sessionID: String
    /// `created_at`, to the second, as shown in `date`.
    let date: Date
    let json: JSON

    init(user: String, session: String, metadata: JSONObject, storage: StoreKind, lastModified: Date) {
        sessionID = session
        let created = metadata["created_at"]?.stringValue.flatMap(Timestamp.parse) ?? lastModified
        date = Date(timeIntervalSince1970: created.timeIntervalSince1970.rounded(.down))
        let audioKey = metadata["audio_key"]?.stringValue
        let format = audioKey.flatMap { Layout.audioFormat(ofKey: $0, user, session) }
        let url = Layout.recordingURL(user, session)
        json = .object(JSONObject([
            ("session_id", .string(session)),
            ("user_id", .string(user)),
            ("name", .string(metadata["name"]?.stringValue ?? session)),
            ("date", .string(Timestamp.iso8601(date))),
            ("duration", Self.number(metadata["duration"])),
            ("tags", .array((metadata["tags"]?.arrayValue ?? []).filter { $0.stringValue != nil })),
            ("notes", .string(metadata["notes"]?.stringValue ?? "")),
            ("storage", .string(storage.rawValue)),
            ("audio_key", audioKey.map(JSON.string) ?? .null),
            ("transcript_key", .string(Layout.transcriptKey(user, session))),
            ("audio_content_type", (metadata["audio_content_type"]?.stringValue ?? format?.contentType).map(JSON.string) ?? .null),
            ("audio_bytes", Self.number(metadata["audio_bytes"])),
            ("audio_url", .string(url + "/audio")),
            ("transcript_url", .string(url + "/transcript")),
        ]))
    }

    /// A stored metadata document, or nil (logged) when it is not a JSON object.
    init?(user: String, session: String, document: Document, storage: StoreKind, lastModified: Date, key: String) {
        guard case .json(.object(let metadata)) = document else {
            let reason: String
            if case .corrupt(let why) = document { reason = why } else { reason = "not a JSON object" }
            Log.warning("skipping unreadable recording metadata", ["key": key, "store": storage.rawValue, "error": reason])
            return nil
        }
        self.init(user: user, session: session, metadata: metadata, storage: storage, lastModified: lastModified)
    }

    private static func number(_ value: JSON?) -> JSON {
        if case .number? = value { return value! }
        return .null
    }
}
