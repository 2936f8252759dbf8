import RecstoreConfiguration
import S3
import Storage

/// The stores a configuration names, built the same way by `serve`, `check`, `sync`
/// and `prune` (each module's options from the configuration: ModuleOptions.swift).
public enum Stores {
    public struct SetupError: Error, CustomStringConvertible {
        public let description: String
    }

    /// Nil when no bucket is configured.
    public static func bucket(_ configuration: Configuration, adjust: (inout S3Options) -> Void = { _ in }) throws -> S3Store? {
        guard configuration.storage.bucket != nil else { return nil }
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
        guard let name = configuration.storage.bucket else { return nil }
        var options = S3Options(configuration)
        adjust(&options)
        return S3Store(bucket: name, region: configuration.storage.region, endpoint: configuration.storage.endpoint,
                       credentials: credentials, options: options)
    }
}

extension StorageService {
    /// API.md's "Two stores, one view" for a configuration. LOCAL: writes to the
    /// local store, reads the bucket too when one is configured (`s3`). S3: writes
    /// to the bucket, reads the local directory too, and falls back to it when
    /// `S3_FALLBACK_TO_LOCAL` is on.
    public convenience init(configuration: Configuration, local: LocalStore, s3: (any ObjectStore)?) {
        let scope = local.root + "|" + (configuration.storage.bucket ?? "")
        let orphanAge = Double(configuration.retention.orphanAgeSeconds)
        switch configuration.storage.mode {
        case .local:
            self.init(active: local, others: s3.map { [$0] } ?? [], lockScope: scope, orphanAge: orphanAge)
        case .s3:
            guard let s3 else { preconditionFailure("STORAGE=S3 needs an S3 store") }
            self.init(active: s3, others: [local], fallback: configuration.storage.fallbackToLocal ? local : nil,
                      lockScope: scope, orphanAge: orphanAge)
        }
    }
}
