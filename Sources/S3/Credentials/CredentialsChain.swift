/// The usual AWS lookup, decided once from an environment dictionary
/// (`Configuration.environment`, never the process environment, so tests are
/// hermetic):
///
/// 1. AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN;
/// 2. the AWS_PROFILE profile of the shared credentials and config files;
/// 3. the container endpoint (AWS_CONTAINER_CREDENTIALS_RELATIVE_URI or _FULL_URI);
/// 4. the EC2 instance role through IMDSv2, unless AWS_EC2_METADATA_DISABLED=true.
///
/// The first two are read here, once; the last two are asked over HTTP on first use
/// and refreshed before they expire. A source that is present but wrong (a key
/// without its secret, a named profile that does not exist) is an error, not a
/// reason to try the next one.
public struct CredentialsChain: CredentialsProvider {
    public enum Source: Sendable, Equatable, CustomStringConvertible {
        case environment
        case profile(name: String, credentialsFile: String, configFile: String)
        case container(url: String)
        case instanceMetadata(endpoint: String)

        public var description: String {
            switch self {
            case .environment: "environment variables AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
            case .profile(let name, let credentialsFile, let configFile): "profile '\(name)' of \(credentialsFile) / \(configFile)"
            case .container(let url): "container credentials endpoint \(url)"
            case .instanceMetadata(let endpoint): "EC2 instance role (IMDSv2 at \(endpoint))"
            }
        }
    }

    public let source: Source
    public let provider: any CredentialsProvider

    public init(environment env: [String: String]) throws(CredentialsError) {
        if let fixed = try EnvironmentCredentials.load(env) {
            self.init(.environment, StaticCredentialsProvider(fixed))
            return
        }
        let profile = ProfileCredentials(environment: env)
        if let fixed = try profile.load() {
            self.init(.profile(name: profile.profile, credentialsFile: profile.credentialsPath, configFile: profile.configPath),
                      StaticCredentialsProvider(fixed))
            return
        }
        if let container = try ContainerCredentialsProvider.fromEnvironment(env) {
            self.init(.container(url: container.url), RefreshingCredentialsProvider(container))
            return
        }
        if let instance = try InstanceMetadataCredentialsProvider.fromEnvironment(env) {
            self.init(.instanceMetadata(endpoint: instance.endpoint), RefreshingCredentialsProvider(instance))
            return
        }
        throw CredentialsError("no AWS credentials: AWS_ACCESS_KEY_ID is not set, \(profile.description) holds no keys, "
            + "no container credentials endpoint is configured, and AWS_EC2_METADATA_DISABLED=true rules out the instance role")
    }

    init(_ source: Source, _ provider: any CredentialsProvider) {
        self.source = source
        self.provider = provider
    }

    public func credentials() throws -> AWSCredentials {
        do {
            return try provider.credentials()
        } catch let error as CredentialsError {
            // Name the source: "connection refused" alone does not tell an operator
            // that the chain ended at the instance role.
            throw CredentialsError("no AWS credentials from the \(source): \(error.message)")
        }
    }
}
