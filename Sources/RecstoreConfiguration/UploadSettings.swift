/// How uploads arrive: `MAX_UPLOAD_BYTES`, the request body deadline
/// (`REQUEST_BODY_*`) and the lifetime of resumable uploads (`UPLOAD_EXPIRY_SECONDS`).
public struct UploadSettings: Sendable {
    public var maxBytes: Int64 = 536_870_912
    // The request body deadline (issue 16): a body may take grace + received bytes /
    // minimum rate seconds, at most max; slower bodies are refused with 408.
    public var bodyGraceSeconds: Int = 30
    public var bodyMinBytesPerSecond: Int64 = 8 * 1024
    public var bodyMaxSeconds: Int = 3600
    /// Lifetime of a resumable upload (tus) since its creation or last PATCH.
    public var expirySeconds: Int = 86_400

    public init() {}

    public init(_ reader: EnvironmentReader) throws(ConfigurationError) {
        if let n = try reader.integer("MAX_UPLOAD_BYTES", 1...(5 * 1024 * 1024 * 1024 * 1024)) { maxBytes = n }
        if let n = try reader.int("REQUEST_BODY_GRACE_SECONDS", 1...86_400) { bodyGraceSeconds = n }
        if let n = try reader.integer("REQUEST_BODY_MIN_BYTES_PER_SECOND", 0...(1 << 40)) { bodyMinBytesPerSecond = n }
        if let n = try reader.int("REQUEST_BODY_MAX_SECONDS", 1...604_800) { bodyMaxSeconds = n }
        if let n = try reader.int("UPLOAD_EXPIRY_SECONDS", 1...(366 * 86_400)) { expirySeconds = n }
    }
}
