import RecstoreConfiguration
import S3
import Storage

/// The S3 store a configuration names, built the same way by `serve`, `check` and `sync`.
public enum Stores {
    public struct SetupError: Error, CustomStringConvertible {
        public let description: String
    }

    /// Nil when no bucket is configured.
    public static func bucket(_ configuration: Configuration, adjust: (inout S3Options) -> Void = { _ in }) throws -> S3Store? {
        guard configuration.bucket != nil else { return nil }
        let credentials: CredentialsChain
        do {
            credentials = try CredentialsChain(environment: configuration.environment)
        } catch {
            throw SetupError(description: "AWS credentials: \(error)")
        }
        return bucket(configuration, credentials: credentials, adjust: adjust)
    }

    /// With credentials the caller resolved itself (`check` and `sync` report them).
    public static func bucket(_ configuration: Configuration, credentials: any CredentialsProvider,
                       adjust: (inout S3Options) -> Void = { _ in }) -> S3Store? {
        guard let name = configuration.bucket else { return nil }
        var options = S3Options()
        options.multipartThreshold = configuration.s3MultipartThreshold
        options.partSize = configuration.s3PartSize
        options.connectTimeout = Double(configuration.s3ConnectTimeoutSeconds)
        options.lowSpeedTime = configuration.s3LowSpeedSeconds
        options.retry = RetryPolicy(maxAttempts: configuration.s3MaxAttempts)
        options.breakerThreshold = configuration.s3BreakerFailures
        options.breakerCoolDown = Double(configuration.s3BreakerCooldownSeconds)
        // A save's multipart upload lives at most its budget (the configured seconds
        // plus one per MiB); beyond that, and the orphan age, and some clock skew, it is stale.
        let longestSave = Double(configuration.s3SaveBudgetSeconds) + Double(configuration.maxUploadBytes) / (1024 * 1024)
        options.staleRecordingUploadSeconds = max(Double(configuration.orphanAgeSeconds), longestSave) + 10
        options.staleOtherUploadSeconds = max(7 * 86_400, 2 * Double(configuration.uploadExpirySeconds))
        adjust(&options)
        return S3Store(bucket: name, region: configuration.region, endpoint: configuration.s3Endpoint,
                       credentials: credentials, options: options)
    }
}
