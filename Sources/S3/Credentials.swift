import Foundation

/// One set of AWS credentials, as resolved by a `CredentialsProvider`.
public struct AWSCredentials: Sendable, Equatable {
    public var accessKeyID: String
    public var secretAccessKey: String
    public var sessionToken: String?
    public var expiration: Date?

    public init(accessKeyID: String, secretAccessKey: String, sessionToken: String? = nil, expiration: Date? = nil) {
        self.accessKeyID = accessKeyID
        self.secretAccessKey = secretAccessKey
        self.sessionToken = sessionToken
        self.expiration = expiration
    }
}

/// Where the S3 store gets its credentials for each request. Implementations cache
/// and refresh as they see fit; the signer asks once per request.
public protocol CredentialsProvider: Sendable {
    /// Throws when no credentials can be resolved.
    func credentials() throws -> AWSCredentials
}

/// Fixed credentials, e.g. from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN.
public struct StaticCredentialsProvider: CredentialsProvider {
    public let fixed: AWSCredentials

    public init(_ credentials: AWSCredentials) { self.fixed = credentials }

    public init(accessKeyID: String, secretAccessKey: String, sessionToken: String? = nil) {
        self.fixed = AWSCredentials(accessKeyID: accessKeyID, secretAccessKey: secretAccessKey, sessionToken: sessionToken)
    }

    public func credentials() throws -> AWSCredentials { fixed }
}
