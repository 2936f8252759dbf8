import Curl
import Foundation

/// Credentials from the ECS task / EKS Pod Identity endpoint: either
/// AWS_CONTAINER_CREDENTIALS_RELATIVE_URI against 169.254.170.2, or
/// AWS_CONTAINER_CREDENTIALS_FULL_URI with an `Authorization` token from
/// AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE (re-read each time: the agent rotates it)
/// or AWS_CONTAINER_AUTHORIZATION_TOKEN.
///
/// Every call asks the endpoint; `RefreshingCredentialsProvider` adds the caching.
public struct ContainerCredentialsProvider: CredentialsProvider {
    public let url: String
    let token: AuthorizationToken

    enum AuthorizationToken: Sendable, Equatable {
        case none
        case value(String)
        case file(String)
    }

    static let ecsHost = "http://169.254.170.2"

    /// Nil when neither URI variable is set. `relativeBase` is the ECS address
    /// (changed by tests only).
    static func fromEnvironment(_ env: [String: String], relativeBase: String = ecsHost) throws(CredentialsError) -> ContainerCredentialsProvider? {
        let url: String
        if let relative = nonEmpty(env["AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"]) {
            url = relativeBase + (relative.hasPrefix("/") ? relative : "/" + relative)
        } else if let full = nonEmpty(env["AWS_CONTAINER_CREDENTIALS_FULL_URI"]) {
            try checkFullURI(full)
            url = full
        } else {
            return nil
        }
        let token: AuthorizationToken
        if let path = nonEmpty(env["AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"]) {
            token = .file(path)
        } else if let value = nonEmpty(env["AWS_CONTAINER_AUTHORIZATION_TOKEN"]) {
            token = .value(value)
        } else {
            token = .none
        }
        return ContainerCredentialsProvider(url: url, token: token)
    }

    /// Credentials must not be fetched from just anywhere over plain http: only
    /// https, or http to loopback and the ECS / EKS Pod Identity link-local addresses
    /// (what the AWS SDKs allow).
    static func checkFullURI(_ uri: String) throws(CredentialsError) {
        guard let parts = URLComponents(string: uri), let scheme = parts.scheme?.lowercased(),
              var host = parts.host?.lowercased(), !host.isEmpty else {
            throw CredentialsError("AWS_CONTAINER_CREDENTIALS_FULL_URI is not a URL: \"\(uri)\"")
        }
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        switch scheme {
        case "https":
            return
        case "http":
            let linkLocal = ["169.254.170.2", "169.254.170.23", "fd00:ec2::23"]
            let loopback = host == "localhost" || host == "::1" || isIPv4Loopback(host)
            if loopback || linkLocal.contains(host) { return }
            throw CredentialsError("AWS_CONTAINER_CREDENTIALS_FULL_URI must be https, or http to a loopback or container link-local address; got \"\(uri)\"")
        default:
            throw CredentialsError("AWS_CONTAINER_CREDENTIALS_FULL_URI must be an http(s) URL, got \"\(uri)\"")
        }
    }

    private static func isIPv4Loopback(_ host: String) -> Bool {
        let octets = host.split(separator: ".", omittingEmptySubsequences: false)
        return octets.count == 4 && octets[0] == "127" && octets.allSatisfy { UInt8($0) != nil }
    }

    public func credentials() throws -> AWSCredentials {
        var headers: [(name: String, value: String)] = []
        if let value = try authorization() { headers.append(("Authorization", value)) }
        let response = try MetadataEndpoint.send("GET", url, headers: headers, what: "the container credentials endpoint")
        guard response.status == 200 else {
            throw CredentialsError("the container credentials endpoint \(url) \(MetadataEndpoint.describe(response))")
        }
        return try CredentialsDocument.parse(response.body, from: "the container credentials endpoint \(url)")
    }

    private func authorization() throws(CredentialsError) -> String? {
        let value: String
        switch token {
        case .none:
            return nil
        case .value(let v):
            value = v
        case .file(let path):
            guard let data = FileManager.default.contents(atPath: path) else {
                throw CredentialsError("cannot read AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE \(path)")
            }
            // A trailing newline is how most tools write a file; it is not part of the token.
            value = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        }
        guard !value.isEmpty else { throw CredentialsError("the container authorization token is empty") }
        guard !value.contains(where: { $0 == "\r" || $0 == "\n" || $0 == "\r\n" }) else {
            throw CredentialsError("the container authorization token contains a line break")
        }
        return value
    }
}
