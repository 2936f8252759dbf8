/// Tuning of an `S3Store`; the defaults suit AWS.
public struct S3Options: Sendable {
    /// Files of at least this size are sent as a multipart upload.
    public var multipartThreshold: Int64 = 64 * 1024 * 1024
    /// Size of each part (S3: at least 5 MiB; raised when 10,000 parts would not do).
    public var partSize: Int64 = 16 * 1024 * 1024
    /// Parts in flight at once; each streams from the file, so memory stays small.
    public var partConcurrency: Int = 4
    /// Objects fetched at once by `getMany`.
    public var fetchConcurrency: Int = 16
    /// Seconds to establish a connection (`S3_CONNECT_TIMEOUT_SECONDS`).
    public var connectTimeout: Double = 3
    /// Seconds for a whole small request (metadata, listing, HEAD), when the
    /// request's own budget (`Deadline`) does not end sooner.
    public var requestTimeout: Double = 30
    /// Transfers give up when under 1 KiB/s for this many seconds (`S3_LOW_SPEED_SECONDS`).
    public var lowSpeedTime: Int = 10
    /// Consecutive failures that open the circuit breaker (0: never), and how long it
    /// stays open (`S3_BREAKER_FAILURES`, `S3_BREAKER_COOLDOWN_SECONDS`).
    public var breakerThreshold: Int = 5
    public var breakerCoolDown: Double = 30
    /// A multipart upload of a recording older than this is stale: no save's budget
    /// lasts that long (see `StaleUploadPolicy`).
    public var staleRecordingUploadSeconds: Double = 3600
    /// Any other multipart upload (resumable uploads keep theirs open, renewed by
    /// each PATCH) is stale only after this: a week, or twice their expiry.
    public var staleOtherUploadSeconds: Double = 7 * 86_400
    /// Seconds for the `/readyz` check (one attempt, no retry).
    public var readinessTimeout: Double = 3
    public var retry = RetryPolicy()
    /// Server-side copies above this size go as UploadPartCopy ranges (S3: 5 GiB at most
    /// for one CopyObject); ranges of `copyPartSize`.
    public var singleCopyLimit: Int64 = 5 * 1024 * 1024 * 1024
    public var copyPartSize: Int64 = 512 * 1024 * 1024

    public init() {}
}
