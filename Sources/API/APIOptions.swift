import HTTP

/// The settings the routes read, given explicitly: the service builds them from its
/// configuration (Operations' `APIOptions(_ configuration:)`), tests directly. The
/// defaults are the configuration's.
public struct APIOptions: Sendable {
    // What GET storage-info reports about where recordings are kept.
    /// STORAGE=S3: saves go to the bucket.
    public var savesToS3 = false
    public var bucket: String?
    public var region = "us-east-1"
    public var fallbackToLocal = true

    /// Listings leave out recordings older than this.
    public var retentionDays = 15
    public var maxUploadBytes: Int64 = 536_870_912
    /// Lifetime of a resumable upload since its creation or last PATCH.
    public var uploadExpirySeconds = 86_400
    /// Seconds a save may spend on storage (plus one per MiB of audio), and any other
    /// writing request; see `Deadline`.
    public var saveBudgetSeconds = 20
    /// Seconds a reading request may spend on storage.
    public var readBudgetSeconds = 5
    /// Audio in the bucket answers with a 302 to a presigned URL of this lifetime
    /// (at most 15 minutes) rather than relaying the bytes.
    public var redirectsAudioToS3 = true
    public var presignSeconds = 900
    /// Peers (REMOTE_ADDR) allowed to read /metrics and /status.
    public var operationsAllowFrom: [AddressBlock] = ["127.0.0.0/8", "::1"].compactMap(AddressBlock.init)

    public init() {}
}
