import Foundation

public enum StorageMode: String, Sendable { case local = "LOCAL", s3 = "S3" }

/// Where recordings are kept: `STORAGE`, `LOCAL_STORAGE_DIR`, the bucket, its
/// region and endpoint, and `S3_FALLBACK_TO_LOCAL`.
public struct StorageSettings: Sendable {
    public var mode: StorageMode = .local
    public var localDirectory: String = "./uploads"
    public var bucket: String?
    public var region: String = "us-east-1"
    /// An S3-compatible endpoint (path-style addressing), or nil for AWS.
    public var endpoint: String?
    public var fallbackToLocal = true
    /// A LOCAL listing is reused while its top directory is unchanged (every write
    /// through recstore touches it); every file of it is checked again at least this
    /// often, so edits made by hand inside a session show within it
    /// (`LISTING_RECHECK_SECONDS`).
    public var listingRecheckSeconds: Double = 1

    public init() {}

    public init(_ reader: EnvironmentReader) throws(ConfigurationError) {
        if let (_, v) = reader.value("STORAGE") {
            guard let mode = StorageMode(rawValue: v.uppercased()) else {
                throw ConfigurationError("STORAGE", "must be LOCAL or S3, got \"\(v)\"")
            }
            self.mode = mode
        }
        if let (_, v) = reader.value("LOCAL_STORAGE_DIR") { localDirectory = v }
        if let (name, v) = reader.value("AWS_S3_BUCKET_NAME", "STUDY_BUDDY_BUCKET_NAME") {
            guard BucketName.isValid(v) else { throw ConfigurationError(name, "is not a valid S3 bucket name: \"\(v)\"") }
            bucket = v
        }
        if let (name, v) = reader.value("AWS_REGION", "AWS_DEFAULT_REGION") {
            guard v.utf8.allSatisfy({ ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2D }) else {
                throw ConfigurationError(name, "is not a region name: \"\(v)\"")
            }
            region = v
        }
        if let (name, v) = reader.value("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL") {
            guard let url = URLComponents(string: v), let scheme = url.scheme, ["http", "https"].contains(scheme), url.host != nil else {
                throw ConfigurationError(name, "must be an http(s) URL, got \"\(v)\"")
            }
            endpoint = v.hasSuffix("/") ? String(v.dropLast()) : v
        }
        if let b = try reader.boolean("S3_FALLBACK_TO_LOCAL") { fallbackToLocal = b }
        if let n = try reader.seconds("LISTING_RECHECK_SECONDS", maximum: 86_400) { listingRecheckSeconds = n }
        if mode == .s3 && bucket == nil {
            throw ConfigurationError("AWS_S3_BUCKET_NAME", "is required when STORAGE=S3")
        }
    }
}

public enum BucketName {
    /// S3's rules: 3–63 characters, lowercase letters, digits, `.` and `-`,
    /// starting and ending with a letter or digit.
    public static func isValid(_ name: String) -> Bool {
        let b = Array(name.utf8)
        guard (3...63).contains(b.count) else { return false }
        func alnum(_ c: UInt8) -> Bool { (c >= 0x61 && c <= 0x7A) || (c >= 0x30 && c <= 0x39) }
        guard alnum(b.first!), alnum(b.last!) else { return false }
        return b.allSatisfy { alnum($0) || $0 == 0x2E || $0 == 0x2D }
    }
}

/// How long recordings are kept and how leftovers are swept: `RETENTION_DAYS`,
/// `ORPHAN_AGE_SECONDS`, `SWEEP_INTERVAL_SECONDS`.
public struct RetentionSettings: Sendable {
    public var days: Int = 15
    /// Objects of a recording without metadata older than this are leftovers (`ORPHAN_AGE_SECONDS`).
    public var orphanAgeSeconds: Int = 300
    /// How often one worker per host sweeps leftovers, stale temporary files and
    /// stale S3 multipart uploads; 0 turns the sweep off (`SWEEP_INTERVAL_SECONDS`).
    public var sweepIntervalSeconds: Int = 600

    public init() {}

    public init(_ reader: EnvironmentReader) throws(ConfigurationError) {
        if let n = try reader.int("RETENTION_DAYS", 1...36_500) { days = n }
        if let n = try reader.int("ORPHAN_AGE_SECONDS", 1...(30 * 86_400)) { orphanAgeSeconds = n }
        if let n = try reader.int("SWEEP_INTERVAL_SECONDS", 0...86_400) { sweepIntervalSeconds = n }
    }
}
