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
