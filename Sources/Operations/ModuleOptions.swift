import API
import Auth
import RecstoreConfiguration
import S3

// The one place that maps the configuration to the options each module takes, so
// that S3, Auth and API never import RecstoreConfiguration (the stores themselves:
// Stores.swift).

extension S3Options {
    /// The `S3_*` settings, and how long a multipart upload may live before the sweep
    /// calls it stale.
    public init(_ configuration: Configuration) {
        let s3 = configuration.s3
        self.init()
        multipartThreshold = s3.multipartThreshold
        partSize = s3.partSize
        connectTimeout = Double(s3.connectTimeoutSeconds)
        lowSpeedTime = s3.lowSpeedSeconds
        retry = RetryPolicy(maxAttempts: s3.maxAttempts)
        breakerThreshold = s3.breakerFailures
        breakerCoolDown = Double(s3.breakerCooldownSeconds)
        // A save's multipart upload lives at most its budget (the configured seconds
        // plus one per MiB); beyond that, and the orphan age, and some clock skew, it is stale.
        let longestSave = Double(s3.saveBudgetSeconds) + Double(configuration.uploads.maxBytes) / (1024 * 1024)
        staleRecordingUploadSeconds = max(Double(configuration.retention.orphanAgeSeconds), longestSave) + 10
        staleOtherUploadSeconds = max(7 * 86_400, 2 * Double(configuration.uploads.expirySeconds))
    }
}

extension APIOptions {
    /// What the routes read of the configuration.
    public init(_ c: Configuration) {
        self.init()
        savesToS3 = c.storage.mode == .s3
        bucket = c.storage.bucket
        region = c.storage.region
        fallbackToLocal = c.storage.fallbackToLocal
        retentionDays = c.retention.days
        maxUploadBytes = c.uploads.maxBytes
        uploadExpirySeconds = c.uploads.expirySeconds
        saveBudgetSeconds = c.s3.saveBudgetSeconds
        readBudgetSeconds = c.s3.readBudgetSeconds
        redirectsAudioToS3 = c.redirectsAudioToS3
        presignSeconds = c.s3.presignSeconds
        operationsAllowFrom = c.server.operationsAllowBlocks
    }
}

extension AuthOptions {
    /// The `AUTH0_*`, `JWT_*` and `JWKS_*` settings.
    public init(_ identity: IdentitySettings) {
        let source: JWKSSource = switch identity.jwksSource {
        case .url(let url): .url(url)
        case .file(let path): .file(path)
        }
        self.init(issuer: identity.issuer, audience: identity.audience, algorithms: identity.algorithms,
                  leewaySeconds: identity.leewaySeconds, jwksSource: source,
                  jwksTTLSeconds: identity.jwksTTLSeconds, jwksTimeoutSeconds: identity.jwksTimeoutSeconds)
    }
}
