import Foundation
import Synchronization
import XCTest
@testable import S3

/// IMDSv2, played by a loopback server that insists on session tokens the way the
/// real one does.
final class CredentialsInstanceMetadataTests: XCTestCase {
    /// The fake service: hands out tokens, accepts only the latest, serves one role.
    final class FakeIMDS: Sendable {
        struct State { var issued = 0; var role: String? = "app-role"; var refuseTokens = false }
        let state = Mutex(State())
        let expiration = Date().addingTimeInterval(6 * 3600)

        func currentToken() -> String { state.withLock { "token-\($0.issued)" } }

        func answer(_ request: RecordedRequest) -> CannedResponse {
            let s = state.withLock { $0 }
            if request.method == "PUT" && request.path == "/latest/api/token" {
                guard !s.refuseTokens else { return CannedResponse(403, "IMDSv2 disabled") }
                guard request.headers["x-aws-ec2-metadata-token-ttl-seconds"] == "21600" else { return CannedResponse(400) }
                let issued = state.withLock { $0.issued += 1; return $0.issued }
                return CannedResponse(200, "token-\(issued)")
            }
            guard request.method == "GET" else { return CannedResponse(405) }
            guard request.headers["x-aws-ec2-metadata-token"] == "token-\(s.issued)" else { return CannedResponse(401) }
            switch request.path {
            case "/latest/meta-data/iam/security-credentials/":
                return s.role.map { CannedResponse(200, $0 + "\n") } ?? CannedResponse(404, "Not Found")
            case "/latest/meta-data/iam/security-credentials/app-role":
                return CannedResponse(200, credentialsJSON(key: "ASIAEC2\(s.issued)", expiration: expiration, code: "Success"))
            default:
                return CannedResponse(404)
            }
        }
    }

    private func start() throws -> (FakeIMDS, CredentialsTestServer, InstanceMetadataCredentialsProvider) {
        let imds = FakeIMDS()
        let server = try CredentialsTestServer { imds.answer($0) }
        let provider = try XCTUnwrap(InstanceMetadataCredentialsProvider.fromEnvironment(["AWS_EC2_METADATA_SERVICE_ENDPOINT": server.url]))
        return (imds, server, provider)
    }

    func testTokenThenRoleThenCredentials() throws {
        let (imds, server, provider) = try start()
        defer { server.stop() }
        let credentials = try provider.credentials()
        XCTAssertEqual(credentials, AWSCredentials(accessKeyID: "ASIAEC21", secretAccessKey: "secret-ASIAEC21",
                                                   sessionToken: "session-ASIAEC21", expiration: credentials.expiration))
        XCTAssertEqual(credentials.expiration?.timeIntervalSince1970 ?? 0, imds.expiration.timeIntervalSince1970, accuracy: 1)
        let seen = server.requests
        XCTAssertEqual(seen.map { "\($0.method) \($0.path)" }, [
            "PUT /latest/api/token",
            "GET /latest/meta-data/iam/security-credentials/",
            "GET /latest/meta-data/iam/security-credentials/app-role",
        ])
        XCTAssertEqual(seen[0].headers["x-aws-ec2-metadata-token-ttl-seconds"], "21600")
        XCTAssertNil(seen[0].headers["x-aws-ec2-metadata-token"])
        XCTAssertEqual(seen[1].headers["x-aws-ec2-metadata-token"], "token-1")
        XCTAssertEqual(seen[2].headers["x-aws-ec2-metadata-token"], "token-1")
    }

    func testSessionTokenIsReused() throws {
        let (_, server, provider) = try start()
        defer { server.stop() }
        _ = try provider.credentials()
        _ = try provider.credentials()
        XCTAssertEqual(server.requests.filter { $0.method == "PUT" }.count, 1)
        XCTAssertEqual(server.requests.count, 5)
    }

    /// The service forgot our token (restart, expiry): one 401, one new token, one retry.
    func testRejectedTokenIsReplacedOnce() throws {
        let (imds, server, provider) = try start()
        defer { server.stop() }
        _ = try provider.credentials()
        imds.state.withLock { $0.issued += 1 }  // token-1 is no longer valid
        XCTAssertEqual(try provider.credentials().accessKeyID, "ASIAEC23")
        XCTAssertEqual(server.requests.dropFirst(3).map { "\($0.method) \($0.headers["x-aws-ec2-metadata-token"] ?? "-")" },
                       ["GET token-1", "PUT -", "GET token-3", "GET token-3"])
    }

    func testNoRoleAttached() throws {
        let (imds, server, provider) = try start()
        defer { server.stop() }
        imds.state.withLock { $0.role = nil }
        XCTAssertThrowsError(try provider.credentials()) { error in
            XCTAssertTrue("\(error)".hasPrefix("no IAM role is attached to this EC2 instance"), "\(error)")
        }
    }

    func testTokenRefused() throws {
        let (imds, server, provider) = try start()
        defer { server.stop() }
        imds.state.withLock { $0.refuseTokens = true }
        XCTAssertThrowsError(try provider.credentials()) { error in
            XCTAssertEqual("\(error)", "EC2 instance metadata at \(server.url) answered HTTP 403: IMDSv2 disabled when asked for an IMDSv2 session token")
        }
        XCTAssertEqual(server.requests.count, 1)
    }

    func testFailureCodeInTheDocument() throws {
        let server = try CredentialsTestServer { request in
            switch request.path {
            case "/latest/api/token": CannedResponse(200, "t")
            case "/latest/meta-data/iam/security-credentials/": CannedResponse(200, "r")
            default: CannedResponse(200, "{\"Code\": \"AssumeRoleUnauthorizedAccess\", \"Message\": \"role cannot be assumed\"}")
            }
        }
        defer { server.stop() }
        let provider = InstanceMetadataCredentialsProvider(endpoint: server.url)
        XCTAssertThrowsError(try provider.credentials()) { error in
            XCTAssertTrue("\(error)".hasSuffix("reports AssumeRoleUnauthorizedAccess: role cannot be assumed"), "\(error)")
        }
    }

    func testDisabledAndModes() throws {
        XCTAssertNil(try InstanceMetadataCredentialsProvider.fromEnvironment(["AWS_EC2_METADATA_DISABLED": "TRUE"]))
        XCTAssertNotNil(try InstanceMetadataCredentialsProvider.fromEnvironment(["AWS_EC2_METADATA_DISABLED": "false"]))
        XCTAssertThrowsError(try InstanceMetadataCredentialsProvider.fromEnvironment(["AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE": "IPv5"]))
    }
}
