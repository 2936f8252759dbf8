/// How the bucket is used: multipart sizes, presigned downloads, and the deadlines,
/// retries and circuit breaker (see README "Deadlines, the breaker and the sweep").
/// Which bucket, where, is `StorageSettings`.
public struct S3Settings: Sendable {
    /// Uploads at or above this size go to S3 as a multipart upload.
    public var multipartThreshold: Int64 = 64 * 1024 * 1024
    public var partSize: Int64 = 16 * 1024 * 1024
    /// Lifetime of presigned audio URLs (at most 15 minutes).
    public var presignSeconds: Int = 900
    /// `redirect` (302 to a presigned URL), `stream` (the responder relays the bytes),
    /// or `auto`: redirect on AWS, stream from a custom endpoint (an S3-compatible
    /// server is often on a private network clients cannot reach).
    public var audioDownload: String = "auto"
    /// Seconds one save may spend on storage (`S3_SAVE_BUDGET_SECONDS`), plus one
    /// second per MiB of audio; counted from when the upload has arrived.
    public var saveBudgetSeconds: Int = 20
    /// Seconds any other request may spend on storage (`S3_READ_BUDGET_SECONDS`).
    public var readBudgetSeconds: Int = 5
    public var connectTimeoutSeconds: Int = 3
    /// A transfer under 1 KiB/s for this long is given up (`S3_LOW_SPEED_SECONDS`).
    public var lowSpeedSeconds: Int = 10
    /// Attempts per S3 call, the first included (`S3_MAX_ATTEMPTS`).
    public var maxAttempts: Int = 4
    /// Consecutive S3 failures that open the breaker, 0 for never (`S3_BREAKER_FAILURES`).
    public var breakerFailures: Int = 5
    public var breakerCooldownSeconds: Int = 30

    public init() {}

    public init(_ reader: EnvironmentReader) throws(ConfigurationError) {
        let partSizes: ClosedRange<Int64> = (5 * 1024 * 1024)...(5 * 1024 * 1024 * 1024)
        if let n = try reader.integer("S3_MULTIPART_THRESHOLD", partSizes) { multipartThreshold = n }
        if let n = try reader.integer("S3_PART_SIZE", partSizes) { partSize = n }
        if let n = try reader.int("S3_PRESIGN_SECONDS", 1...900) { presignSeconds = n }
        if let (_, v) = reader.value("S3_AUDIO_DOWNLOAD") {
            guard ["redirect", "stream", "auto"].contains(v.lowercased()) else {
                throw ConfigurationError("S3_AUDIO_DOWNLOAD", "must be auto, redirect or stream, got \"\(v)\"")
            }
            audioDownload = v.lowercased()
        }
        if let n = try reader.int("S3_SAVE_BUDGET_SECONDS", 1...3600) { saveBudgetSeconds = n }
        if let n = try reader.int("S3_READ_BUDGET_SECONDS", 1...600) { readBudgetSeconds = n }
        if let n = try reader.int("S3_CONNECT_TIMEOUT_SECONDS", 1...60) { connectTimeoutSeconds = n }
        if let n = try reader.int("S3_LOW_SPEED_SECONDS", 1...600) { lowSpeedSeconds = n }
        if let n = try reader.int("S3_MAX_ATTEMPTS", 1...10) { maxAttempts = n }
        if let n = try reader.int("S3_BREAKER_FAILURES", 0...1000) { breakerFailures = n }
        if let n = try reader.int("S3_BREAKER_COOLDOWN_SECONDS", 1...3600) { breakerCooldownSeconds = n }
    }

    /// Whether audio downloads from the bucket answer with a presigned 302: always
    /// for `redirect`, never for `stream`, on AWS only (no custom endpoint) for `auto`.
    public func redirectsAudio(endpoint: String?) -> Bool {
        switch audioDownload {
        case "redirect": true
        case "stream": false
        default: endpoint == nil
        }
    }
}
