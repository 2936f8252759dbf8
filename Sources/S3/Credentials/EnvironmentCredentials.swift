import Foundation

/// AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY (+ AWS_SESSION_TOKEN): the first
/// link of the chain.
enum EnvironmentCredentials {
    /// Nil when neither key is set. One key without the other is a mistake worth
    /// naming rather than silently looking further down the chain.
    static func load(_ env: [String: String]) throws(CredentialsError) -> AWSCredentials? {
        let id = nonEmpty(env["AWS_ACCESS_KEY_ID"])
        let secret = nonEmpty(env["AWS_SECRET_ACCESS_KEY"])
        switch (id, secret) {
        case (nil, nil):
            return nil
        case (let id?, let secret?):
            return AWSCredentials(accessKeyID: id, secretAccessKey: secret, sessionToken: nonEmpty(env["AWS_SESSION_TOKEN"]))
        case (_?, nil):
            throw CredentialsError("AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not")
        case (nil, _?):
            throw CredentialsError("AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not")
        }
    }
}

func nonEmpty(_ s: String?) -> String? {
    guard let t = s?.trimmingCharacters(in: .whitespaces), !t.isEmpty else { return nil }
    return t
}
