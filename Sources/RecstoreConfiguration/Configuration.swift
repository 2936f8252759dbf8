import Foundation
import HTTP

/// A bad value stops start-up with a message that names the variable.
public struct ConfigurationError: Error, CustomStringConvertible, Sendable {
    public let variable: String
    public let message: String
    public init(_ variable: String, _ message: String) { self.variable = variable; self.message = message }
    public var description: String { "\(variable): \(message)" }
}

public enum StorageMode: String, Sendable { case local = "LOCAL", s3 = "S3" }

/// Where the JWKS comes from.
public enum JWKSSource: Sendable, Equatable {
    case url(String)
    case file(String)
}

/// Everything API.md's configuration table names, read once at start-up and checked.
public struct Configuration: Sendable {
    public var storage: StorageMode = .local
    public var localStorageDir: String = "./uploads"
    public var bucket: String?
    public var region: String = "us-east-1"
    /// An S3-compatible endpoint (path-style addressing), or nil for AWS.
    public var s3Endpoint: String?
    public var fallbackToLocal = true

    public var issuer: String = ""
    public var audience: String = ""
    public var jwksSource: JWKSSource = .file("")
    /// Asymmetric algorithms accepted; never `none` or HS*.
    public var algorithms: [String] = ["RS256"]
    public var leewaySeconds: Int = 60
    public var jwksTTLSeconds: Int = 600
    public var jwksTimeoutSeconds: Int = 5

    public var retentionDays: Int = 15
    public var maxUploadBytes: Int64 = 536_870_912
    /// Uploads at or above this size go to S3 as a multipart upload.
    public var s3MultipartThreshold: Int64 = 64 * 1024 * 1024
    public var s3PartSize: Int64 = 16 * 1024 * 1024
    /// Lifetime of presigned audio URLs (at most 15 minutes).
    public var presignSeconds: Int = 900
    /// `redirect` (302 to a presigned URL), `stream` (the responder relays the bytes),
    /// or `auto`: redirect on AWS, stream from a custom endpoint (an S3-compatible
    /// server is often on a private network clients cannot reach).
    public var s3AudioDownload: String = "auto"

    // CORS (see CORSOrigins): the browser origins allowed to call /api/v1; none by default.
    public var corsAllowOrigins: [String] = []

    /// Whether audio downloads in S3 answer with a presigned 302.
    public var redirectsAudioToS3: Bool {
        switch s3AudioDownload {
        case "redirect": true
        case "stream": false
        default: s3Endpoint == nil
        }
    }

    // MARK: S3 deadlines, circuit breaker and sweep (see README "Deadlines, the breaker and the sweep")

    /// Seconds one save may spend on storage (`S3_SAVE_BUDGET_SECONDS`), plus one
    /// second per MiB of audio; counted from when the upload has arrived.
    public var s3SaveBudgetSeconds: Int = 20
    /// Seconds any other request may spend on storage (`S3_READ_BUDGET_SECONDS`).
    public var s3ReadBudgetSeconds: Int = 5
    public var s3ConnectTimeoutSeconds: Int = 3
    /// A transfer under 1 KiB/s for this long is given up (`S3_LOW_SPEED_SECONDS`).
    public var s3LowSpeedSeconds: Int = 10
    /// Attempts per S3 call, the first included (`S3_MAX_ATTEMPTS`).
    public var s3MaxAttempts: Int = 4
    /// Consecutive S3 failures that open the breaker, 0 for never (`S3_BREAKER_FAILURES`).
    public var s3BreakerFailures: Int = 5
    public var s3BreakerCooldownSeconds: Int = 30
    /// Objects of a recording without metadata older than this are leftovers (`ORPHAN_AGE_SECONDS`).
    public var orphanAgeSeconds: Int = 300
    /// How often one worker per host sweeps leftovers, stale temporary files and
    /// stale S3 multipart uploads; 0 turns the sweep off (`SWEEP_INTERVAL_SECONDS`).
    public var sweepIntervalSeconds: Int = 600

    // --- request body deadline (issue 16): a body may take grace + received bytes /
    // minimum rate seconds, at most max; slower bodies are refused with 408.
    public var requestBodyGraceSeconds: Int = 30
    public var requestBodyMinBytesPerSecond: Int64 = 8 * 1024
    public var requestBodyMaxSeconds: Int = 3600
    // --- end request body deadline

    // MARK: Resumable uploads (tus)
    /// Lifetime of a resumable upload since its creation or last PATCH.
    public var uploadExpirySeconds: Int = 86_400

    // MARK: operations (metrics, status, slow requests)

    /// A request slower than this is logged at warning with where its time went.
    public var slowRequestSeconds: Double = 5
    /// Addresses (`a.b.c.d`, IPv6, or CIDR blocks) allowed to read /metrics and
    /// /status; REMOTE_ADDR outside every one is refused even if nginx let it through.
    public var operationsAllowFrom: [String] = ["127.0.0.0/8", "::1"]

    /// The whole environment (process over `.env`), for the AWS credential chain.
    public var environment: [String: String] = [:]

    public init() {}

    public var bucketConfigured: Bool { bucket != nil }

    /// Reads and checks the environment. Throws on the first bad or missing value.
    /// `requireIdentity: false` is for commands that never verify a token (`recstore
    /// sync`): they run where only the storage is configured, e.g. next to a stack
    /// whose dev issuer exists only inside `make run`.
    public static func load(_ env: [String: String], requireIdentity: Bool = true) throws(ConfigurationError) -> Configuration {
        var c = Configuration()
        c.environment = env
        try refuseMultiWordValues(env)
        func value(_ names: String...) -> (String, String)? {
            for n in names { if let v = env[n]?.trimmingCharacters(in: .whitespaces), !v.isEmpty { return (n, v) } }
            return nil
        }
        func integer(_ name: String, _ range: ClosedRange<Int64>) throws(ConfigurationError) -> Int64? {
            guard let (_, v) = value(name) else { return nil }
            guard let n = Int64(v), range.contains(n) else {
                throw ConfigurationError(name, "must be an integer in \(range.lowerBound)...\(range.upperBound), got \"\(v)\"")
            }
            return n
        }
        func boolean(_ name: String) throws(ConfigurationError) -> Bool? {
            guard let (_, v) = value(name) else { return nil }
            switch v.lowercased() {
            case "1", "true", "yes", "on": return true
            case "0", "false", "no", "off": return false
            default: throw ConfigurationError(name, "must be true or false, got \"\(v)\"")
            }
        }

        if let (_, v) = value("STORAGE") {
            guard let mode = StorageMode(rawValue: v.uppercased()) else {
                throw ConfigurationError("STORAGE", "must be LOCAL or S3, got \"\(v)\"")
            }
            c.storage = mode
        }
        if let (_, v) = value("LOCAL_STORAGE_DIR") { c.localStorageDir = v }
        if let (name, v) = value("AWS_S3_BUCKET_NAME", "STUDY_BUDDY_BUCKET_NAME") {
            guard BucketName.isValid(v) else { throw ConfigurationError(name, "is not a valid S3 bucket name: \"\(v)\"") }
            c.bucket = v
        }
        if let (name, v) = value("AWS_REGION", "AWS_DEFAULT_REGION") {
            guard v.utf8.allSatisfy({ ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2D }) else {
                throw ConfigurationError(name, "is not a region name: \"\(v)\"")
            }
            c.region = v
        }
        if let (name, v) = value("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL") {
            guard let url = URLComponents(string: v), let scheme = url.scheme, ["http", "https"].contains(scheme), url.host != nil else {
                throw ConfigurationError(name, "must be an http(s) URL, got \"\(v)\"")
            }
            c.s3Endpoint = v.hasSuffix("/") ? String(v.dropLast()) : v
        }
        if let b = try boolean("S3_FALLBACK_TO_LOCAL") { c.fallbackToLocal = b }
        if c.storage == .s3 && c.bucket == nil {
            throw ConfigurationError("AWS_S3_BUCKET_NAME", "is required when STORAGE=S3")
        }

        // Identity: issuer, audience and a JWKS source, all three or refuse to start.
        var domain: String?
        if let (_, raw) = value("AUTH0_DOMAIN") {
            var d = raw
            for p in ["https://", "http://"] where d.hasPrefix(p) { d = String(d.dropFirst(p.count)) }
            while d.hasSuffix("/") { d.removeLast() }
            domain = d
        }
        let issuer = value("AUTH0_ISSUER")?.1 ?? domain.map { "https://\($0)/" }
        let audience = value("AUTH0_AUDIENCE")?.1
        var source: JWKSSource?
        if let (_, f) = value("AUTH0_JWKS_FILE") {
            source = .file(f)
        } else if let (name, u) = value("AUTH0_JWKS_URL") {
            try checkJWKSURL(u, variable: name)
            source = .url(u)
        } else if let domain {
            source = .url("https://\(domain)/.well-known/jwks.json")
        }
        var missing: [String] = []
        if issuer == nil { missing.append("an issuer (AUTH0_DOMAIN or AUTH0_ISSUER)") }
        if audience == nil { missing.append("an audience (AUTH0_AUDIENCE)") }
        if source == nil { missing.append("a JWKS source (AUTH0_DOMAIN, AUTH0_JWKS_URL or AUTH0_JWKS_FILE)") }
        if let issuer, let audience, let source {
            c.issuer = issuer
            c.audience = audience
            c.jwksSource = source
        } else if requireIdentity {
            throw ConfigurationError(issuer == nil ? "AUTH0_DOMAIN" : (audience == nil ? "AUTH0_AUDIENCE" : "AUTH0_JWKS_URL"),
                                     "refusing to start without " + missing.joined(separator: ", ") + ": the service is never open")
        }
        if let (_, v) = value("JWT_ALGORITHMS") {
            let algs = v.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces).uppercased() }
            let allowed: Set<String> = ["RS256", "RS384", "RS512"]
            guard !algs.isEmpty, algs.allSatisfy(allowed.contains) else {
                throw ConfigurationError("JWT_ALGORITHMS", "must list asymmetric algorithms among RS256, RS384, RS512, got \"\(v)\"")
            }
            c.algorithms = algs
        }
        if let n = try integer("JWT_LEEWAY_SECONDS", 0...3600) { c.leewaySeconds = Int(n) }
        if let n = try integer("JWKS_TTL_SECONDS", 10...86_400) { c.jwksTTLSeconds = Int(n) }
        if let n = try integer("JWKS_TIMEOUT_SECONDS", 1...60) { c.jwksTimeoutSeconds = Int(n) }
        if let n = try integer("RETENTION_DAYS", 1...36_500) { c.retentionDays = Int(n) }
        if let n = try integer("MAX_UPLOAD_BYTES", 1...(5 * 1024 * 1024 * 1024 * 1024)) { c.maxUploadBytes = n }
        if let n = try integer("S3_MULTIPART_THRESHOLD", (5 * 1024 * 1024)...(5 * 1024 * 1024 * 1024)) { c.s3MultipartThreshold = n }
        if let n = try integer("S3_PART_SIZE", (5 * 1024 * 1024)...(5 * 1024 * 1024 * 1024)) { c.s3PartSize = n }
        if let n = try integer("S3_PRESIGN_SECONDS", 1...900) { c.presignSeconds = Int(n) }
        // --- request body deadline (issue 16)
        if let n = try integer("REQUEST_BODY_GRACE_SECONDS", 1...86_400) { c.requestBodyGraceSeconds = Int(n) }
        if let n = try integer("REQUEST_BODY_MIN_BYTES_PER_SECOND", 0...(1 << 40)) { c.requestBodyMinBytesPerSecond = n }
        if let n = try integer("REQUEST_BODY_MAX_SECONDS", 1...604_800) { c.requestBodyMaxSeconds = Int(n) }
        // --- end request body deadline
        if let (_, v) = value("S3_AUDIO_DOWNLOAD") {
            guard ["redirect", "stream", "auto"].contains(v.lowercased()) else {
                throw ConfigurationError("S3_AUDIO_DOWNLOAD", "must be auto, redirect or stream, got \"\(v)\"")
            }
            c.s3AudioDownload = v.lowercased()
        }
        // CORS
        if let (_, v) = value("CORS_ALLOW_ORIGINS") { c.corsAllowOrigins = try CORSOrigins.parse(v) }
        // Resumable uploads (tus)
        if let n = try integer("UPLOAD_EXPIRY_SECONDS", 1...(366 * 86_400)) { c.uploadExpirySeconds = Int(n) }
        try c.loadResilience(integer)

        // Operations.
        if let (_, v) = value("SLOW_REQUEST_SECONDS") {
            guard let n = Double(v), n.isFinite, n > 0, n <= 86_400 else {
                throw ConfigurationError("SLOW_REQUEST_SECONDS", "must be a number of seconds above 0, got \"\(v)\"")
            }
            c.slowRequestSeconds = n
        }
        if let (_, v) = value("OPERATIONS_ALLOW_FROM") {
            let entries = v.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            for entry in entries where AddressBlock(entry) == nil {
                throw ConfigurationError("OPERATIONS_ALLOW_FROM", "must list IP addresses or CIDR blocks, got \"\(entry)\"")
            }
            c.operationsAllowFrom = entries
        }
        return c
    }

    /// The S3 deadlines, breaker and sweep block (its own, so it merges cleanly).
    mutating func loadResilience(_ integer: (String, ClosedRange<Int64>) throws(ConfigurationError) -> Int64?) throws(ConfigurationError) {
        if let n = try integer("S3_SAVE_BUDGET_SECONDS", 1...3600) { s3SaveBudgetSeconds = Int(n) }
        if let n = try integer("S3_READ_BUDGET_SECONDS", 1...600) { s3ReadBudgetSeconds = Int(n) }
        if let n = try integer("S3_CONNECT_TIMEOUT_SECONDS", 1...60) { s3ConnectTimeoutSeconds = Int(n) }
        if let n = try integer("S3_LOW_SPEED_SECONDS", 1...600) { s3LowSpeedSeconds = Int(n) }
        if let n = try integer("S3_MAX_ATTEMPTS", 1...10) { s3MaxAttempts = Int(n) }
        if let n = try integer("S3_BREAKER_FAILURES", 0...1000) { s3BreakerFailures = Int(n) }
        if let n = try integer("S3_BREAKER_COOLDOWN_SECONDS", 1...3600) { s3BreakerCooldownSeconds = Int(n) }
        if let n = try integer("ORPHAN_AGE_SECONDS", 1...(30 * 86_400)) { orphanAgeSeconds = Int(n) }
        if let n = try integer("SWEEP_INTERVAL_SECONDS", 0...86_400) { sweepIntervalSeconds = Int(n) }
    }

    /// https always; plain http only to a loopback host (tests, a local dev issuer).
    static func checkJWKSURL(_ u: String, variable: String) throws(ConfigurationError) {
        guard let url = URLComponents(string: u), let scheme = url.scheme?.lowercased(), let host = url.host else {
            throw ConfigurationError(variable, "must be a URL, got \"\(u)\"")
        }
        if scheme == "https" { return }
        if scheme == "http" && ["127.0.0.1", "localhost", "::1", "[::1]"].contains(host.lowercased()) { return }
        throw ConfigurationError(variable, "must be https (plain http is allowed only to a loopback host), got \"\(u)\"")
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
