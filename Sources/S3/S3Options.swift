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
    public var connectTimeout: Double = 5
    /// Seconds for a whole small request (metadata, listing, HEAD).
    public var requestTimeout: Double = 30
    /// Large transfers give up when under 1 KiB/s for this many seconds.
    public var lowSpeedTime: Int = 30
    /// Seconds for the `/readyz` check (one attempt, no retry).
    public var readinessTimeout: Double = 3
    public var retry = RetryPolicy()
    /// Server-side copies above this size go as UploadPartCopy ranges (S3: 5 GiB at most
    /// for one CopyObject); ranges of `copyPartSize`.
    public var singleCopyLimit: Int64 = 5 * 1024 * 1024 * 1024
    public var copyPartSize: Int64 = 512 * 1024 * 1024

    public init() {}
}
