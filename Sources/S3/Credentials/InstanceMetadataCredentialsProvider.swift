import Curl
import Foundation
import Synchronization

/// The EC2 instance role through IMDSv2: `PUT /latest/api/token` for a session
/// token, then `GET /latest/meta-data/iam/security-credentials/` for the role name
/// and `…/<role>` for its credentials, both carrying the token. The token is kept
/// for its lifetime (6 h) and fetched again when the service answers 401.
///
/// Every call asks for credentials; `RefreshingCredentialsProvider` adds the caching.
public final class InstanceMetadataCredentialsProvider: CredentialsProvider {
    public let endpoint: String
    static let defaultIPv4Endpoint = "http://169.254.169.254"
    static let defaultIPv6Endpoint = "http://[fd00:ec2::254]"
    static let tokenTTLSeconds = 21_600
    static let credentialsPath = "/latest/meta-data/iam/security-credentials/"

    private let now: @Sendable () -> Date
    private let session = Mutex<(token: String, expires: Date)?>(nil)

    init(endpoint: String, now: @escaping @Sendable () -> Date = Date.init) {
        self.endpoint = endpoint
        self.now = now
    }

    /// Nil when AWS_EC2_METADATA_DISABLED=true. The address is
    /// AWS_EC2_METADATA_SERVICE_ENDPOINT, else the IPv4 or (with
    /// AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE=IPv6) the IPv6 link-local one.
    static func fromEnvironment(_ env: [String: String]) throws(CredentialsError) -> InstanceMetadataCredentialsProvider? {
        if nonEmpty(env["AWS_EC2_METADATA_DISABLED"])?.lowercased() == "true" { return nil }
        if let custom = nonEmpty(env["AWS_EC2_METADATA_SERVICE_ENDPOINT"]) {
            guard let parts = URLComponents(string: custom), let scheme = parts.scheme?.lowercased(),
                  ["http", "https"].contains(scheme), parts.host?.isEmpty == false else {
                throw CredentialsError("AWS_EC2_METADATA_SERVICE_ENDPOINT must be an http(s) URL, got \"\(custom)\"")
            }
            return InstanceMetadataCredentialsProvider(endpoint: custom.hasSuffix("/") ? String(custom.dropLast()) : custom)
        }
        switch nonEmpty(env["AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE"])?.lowercased() {
        case nil, "ipv4": return InstanceMetadataCredentialsProvider(endpoint: defaultIPv4Endpoint)
        case "ipv6": return InstanceMetadataCredentialsProvider(endpoint: defaultIPv6Endpoint)
        case let other?:
            throw CredentialsError("AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE must be IPv4 or IPv6, got \"\(other)\"")
        }
    }

    public func credentials() throws -> AWSCredentials {
        let listing = try get(Self.credentialsPath)
        if listing.status == 404 {
            throw CredentialsError("no IAM role is attached to this EC2 instance (instance metadata at \(endpoint) has no security credentials)")
        }
        guard listing.status == 200 else {
            throw CredentialsError("EC2 instance metadata at \(endpoint) \(MetadataEndpoint.describe(listing)) when asked for the role name")
        }
        let role = String(decoding: listing.body, as: UTF8.self)
            .split(whereSeparator: { $0 == "\n" || $0 == "\r\n" })
            .map { $0.trimmingCharacters(in: .whitespaces) }
            .first { !$0.isEmpty }
        guard let role, !role.contains("/") else {
            throw CredentialsError("no IAM role is attached to this EC2 instance (instance metadata at \(endpoint) lists none)")
        }
        let document = try get(Self.credentialsPath + role)
        guard document.status == 200 else {
            throw CredentialsError("EC2 instance metadata at \(endpoint) \(MetadataEndpoint.describe(document)) for role \(role)")
        }
        return try CredentialsDocument.parse(document.body, from: "EC2 instance metadata at \(endpoint) for role \(role)")
    }

    /// A GET with the session token; a 401 means the token lapsed: one retry with a new one.
    private func get(_ path: String) throws(CredentialsError) -> HTTPResponse {
        var response = try MetadataEndpoint.send("GET", endpoint + path, headers: [("X-aws-ec2-metadata-token", try token())],
                                                 what: "EC2 instance metadata")
        if response.status == 401 {
            session.withLock { $0 = nil }
            response = try MetadataEndpoint.send("GET", endpoint + path, headers: [("X-aws-ec2-metadata-token", try token())],
                                                 what: "EC2 instance metadata")
        }
        return response
    }

    private func token() throws(CredentialsError) -> String {
        let time = now()
        if let current = session.withLock({ $0 }), time < current.expires { return current.token }
        let response = try MetadataEndpoint.send("PUT", endpoint + "/latest/api/token",
                                                 headers: [("X-aws-ec2-metadata-token-ttl-seconds", String(Self.tokenTTLSeconds))],
                                                 what: "EC2 instance metadata")
        let token = String(decoding: response.body, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard response.status == 200, !token.isEmpty else {
            throw CredentialsError("EC2 instance metadata at \(endpoint) \(MetadataEndpoint.describe(response)) when asked for an IMDSv2 session token")
        }
        // Renewed a minute early so a token never lapses between the two GETs.
        session.withLock { $0 = (token, time.addingTimeInterval(TimeInterval(Self.tokenTTLSeconds - 60))) }
        return token
    }
}
