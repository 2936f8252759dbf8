import Foundation

/// Static keys of one profile in the shared files: AWS_PROFILE (default `default`),
/// AWS_SHARED_CREDENTIALS_FILE (default ~/.aws/credentials, sections `[name]`) and
/// AWS_CONFIG_FILE (default ~/.aws/config, sections `[profile name]`). A key in the
/// credentials file wins over the same key in the config file.
struct ProfileCredentials {
    let profile: String
    let credentialsPath: String
    let configPath: String
    /// AWS_PROFILE was given: a missing profile is then an error, not a reason to
    /// look further down the chain.
    let explicit: Bool

    init(environment env: [String: String]) {
        let named = nonEmpty(env["AWS_PROFILE"])
        profile = named ?? "default"
        explicit = named != nil
        credentialsPath = expandHome(nonEmpty(env["AWS_SHARED_CREDENTIALS_FILE"]) ?? "~/.aws/credentials", env)
        configPath = expandHome(nonEmpty(env["AWS_CONFIG_FILE"]) ?? "~/.aws/config", env)
    }

    /// Nil when the profile holds no keys (or does not exist and was not asked for).
    func load() throws(CredentialsError) -> AWSCredentials? {
        let fromCredentials = try SharedConfigFile.load(path: credentialsPath)?.credentialsProfile(profile)
        let fromConfig = try SharedConfigFile.load(path: configPath)?.configProfile(profile)
        guard fromCredentials != nil || fromConfig != nil else {
            if explicit {
                throw CredentialsError("AWS_PROFILE names profile '\(profile)', which is in neither \(credentialsPath) nor \(configPath)")
            }
            return nil
        }
        let values = (fromConfig ?? [:]).merging(fromCredentials ?? [:]) { _, fromCredentialsFile in fromCredentialsFile }
        let id = nonEmpty(values["aws_access_key_id"])
        let secret = nonEmpty(values["aws_secret_access_key"])
        switch (id, secret) {
        case (let id?, let secret?):
            let token = nonEmpty(values["aws_session_token"]) ?? nonEmpty(values["aws_security_token"])
            return AWSCredentials(accessKeyID: id, secretAccessKey: secret, sessionToken: token)
        case (_?, nil):
            throw CredentialsError("profile '\(profile)' has aws_access_key_id but no aws_secret_access_key")
        case (nil, _?):
            throw CredentialsError("profile '\(profile)' has aws_secret_access_key but no aws_access_key_id")
        case (nil, nil):
            // Silently using the instance role instead would hide the operator's intent.
            let unsupported = ["role_arn", "credential_process", "sso_session", "sso_start_url", "web_identity_token_file"]
            if let way = unsupported.first(where: { values[$0] != nil }) {
                throw CredentialsError("profile '\(profile)' gets its credentials through \(way), which recstore does not support; give it aws_access_key_id and aws_secret_access_key")
            }
            return nil
        }
    }

    var description: String { "profile '\(profile)' (\(credentialsPath), \(configPath))" }
}

/// `~` and `~/…` against the HOME of the given environment, so tests stay hermetic.
func expandHome(_ path: String, _ env: [String: String]) -> String {
    guard path == "~" || path.hasPrefix("~/") else { return path }
    let home = nonEmpty(env["HOME"]) ?? NSHomeDirectory()
    return home + path.dropFirst()
}
