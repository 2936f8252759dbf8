import Foundation

/// Identity and endpoint values are single words. systemd's `EnvironmentFile=` keeps
/// everything after `=` (an inline `# comment` included) and `.env` files are read
/// the same way, so `AUTH0_ISSUER=https://t.eu.auth0.com/   # default` would become an
/// issuer no token ever matches, while `check` and `/readyz` see nothing wrong. Such a
/// value is refused at start (and on reload) with the variable's name instead.
extension Configuration {
    static let singleWordVariables = [
        "AUTH0_DOMAIN", "AUTH0_ISSUER", "AUTH0_AUDIENCE", "AUTH0_JWKS_URL",
        "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL",
    ]

    static func refuseMultiWordValues(_ env: [String: String]) throws(ConfigurationError) {
        for name in singleWordVariables {
            guard let raw = env[name] else { continue }
            let value = raw.trimmingCharacters(in: .whitespaces)
            if value.contains("#") {
                throw ConfigurationError(name, "contains \"#\" (comments go on their own line: systemd and .env keep an inline comment as part of the value), got \"\(value)\"")
            }
            if value.unicodeScalars.contains(where: { $0.properties.isWhitespace || $0.value < 0x20 || $0.value == 0x7F }) {
                throw ConfigurationError(name, "contains whitespace (a value is one word; comments go on their own line), got \"\(value)\"")
            }
        }
    }
}
