/// A bad value stops start-up with a message that names the variable.
public struct ConfigurationError: Error, CustomStringConvertible, Sendable {
    public let variable: String
    public let message: String
    public init(_ variable: String, _ message: String) { self.variable = variable; self.message = message }
    public var description: String { "\(variable): \(message)" }
}

/// Everything API.md's configuration table names, read once at start-up and checked,
/// one group per component. The groups read the environment through one
/// `EnvironmentReader`. Only Operations and the executable import this module: the
/// other modules take their own options, built from these groups in one place
/// (Operations' ModuleOptions.swift).
public struct Configuration: Sendable {
    public var storage = StorageSettings()
    public var identity = IdentitySettings()
    public var retention = RetentionSettings()
    public var uploads = UploadSettings()
    public var s3 = S3Settings()
    public var server = ServerSettings()

    /// The whole environment (process over `.env`), for the AWS credential chain.
    public var environment: [String: String] = [:]

    public init() {}

    /// Whether audio downloads in S3 answer with a presigned 302.
    public var redirectsAudioToS3: Bool { s3.redirectsAudio(endpoint: storage.endpoint) }

    /// Reads and checks the environment. Throws on the first bad or missing value,
    /// group by group in the order below (storage before identity, so a bad bucket
    /// name is reported before a missing issuer).
    /// `requireIdentity: false` is for commands that never verify a token (`recstore
    /// sync`): they run where only the storage is configured, e.g. next to a stack
    /// whose dev issuer exists only inside `make run`.
    public static func load(_ env: [String: String], requireIdentity: Bool = true) throws(ConfigurationError) -> Configuration {
        var c = Configuration()
        c.environment = env
        try refuseMultiWordValues(env)
        let reader = EnvironmentReader(env)
        c.storage = try StorageSettings(reader)
        c.identity = try IdentitySettings(reader, required: requireIdentity)
        c.retention = try RetentionSettings(reader)
        c.uploads = try UploadSettings(reader)
        c.s3 = try S3Settings(reader)
        c.server = try ServerSettings(reader)
        return c
    }
}
