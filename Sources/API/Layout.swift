import HTTP

/// Object keys (the same in every store) and the URLs that point at them.
public enum Layout {
    /// Where recordings live: `user_recordings/{user}/{session}/`.
    public static let recordingsArea = "user_recordings/"
    /// Where settings live: `user_settings/{user}/settings.json`.
    public static let settingsArea = "user_settings/"
    /// A recording's commit marker: written last, deleted first.
    public static let metadataName = "session_metadata.json"
    public static let settingsName = "settings.json"
    public static let transcriptName = "transcript.txt"

    public static func userRecordingsPrefix(_ user: String) -> String { recordingsArea + user + "/" }
    public static func recordingPrefix(_ user: String, _ session: String) -> String { recordingsArea + user + "/" + session + "/" }
    public static func metadataKey(_ user: String, _ session: String) -> String { recordingPrefix(user, session) + metadataName }
    public static func transcriptKey(_ user: String, _ session: String) -> String { recordingPrefix(user, session) + transcriptName }
    public static func audioKey(_ user: String, _ session: String, _ format: AudioFormat) -> String {
        recordingPrefix(user, session) + "audio." + format.rawValue
    }
    public static func settingsKey(_ user: String) -> String { settingsArea + user + "/" + settingsName }

    /// The audio format named by a key of this recording, or nil when the key is
    /// not this recording's audio: metadata is data, and never decides what we open.
    public static func audioFormat(ofKey key: String, _ user: String, _ session: String) -> AudioFormat? {
        let prefix = recordingPrefix(user, session) + "audio."
        guard key.hasPrefix(prefix) else { return nil }
        return AudioFormat(rawValue: String(key.dropFirst(prefix.count)))
    }

    /// The session id of a `user_recordings/{user}/{session}/session_metadata.json` key.
    public static func sessionID(ofMetadataKey key: String, user: String) -> String? {
        // On UTF-8 bytes: this runs for every session of every listing.
        let prefix = userRecordingsPrefix(user).utf8
        let suffix = ("/" + metadataName).utf8
        let bytes = key.utf8
        guard bytes.count > prefix.count + suffix.count, bytes.starts(with: prefix),
              bytes.reversed().starts(with: suffix.reversed()) else { return nil }
        let start = bytes.index(bytes.startIndex, offsetBy: prefix.count)
        let end = bytes.index(bytes.endIndex, offsetBy: -suffix.count)
        let session = String(Substring(key.utf8[start..<end]))
        return Identifiers.isValidSessionID(session) ? session : nil
    }

    public static func recordingURL(_ user: String, _ session: String) -> String {
        "/api/v1/recordings/" + PercentDecoding.encodeSegment(user) + "/" + PercentDecoding.encodeSegment(session)
    }
}
