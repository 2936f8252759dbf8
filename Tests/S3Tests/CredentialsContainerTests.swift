import Foundation
import XCTest
@testable import S3

/// The ECS / EKS Pod Identity endpoint, played by a loopback server.
final class CredentialsContainerTests: XCTestCase {
    private let expiration = Date(timeIntervalSince1970: 4_102_444_800)  // 2100-01-01T00:00:00Z

    func testRelativeURIWithExpiration() throws {
        let server = try CredentialsTestServer { [expiration] request in
            request.path == "/v2/credentials/task-7" ? CannedResponse(200, credentialsJSON(key: "ASIATASK", expiration: expiration))
                                                     : CannedResponse(404)
        }
        defer { server.stop() }
        let provider = try XCTUnwrap(ContainerCredentialsProvider.fromEnvironment(
            ["AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "/v2/credentials/task-7"], relativeBase: server.url))
        XCTAssertEqual(try provider.credentials(), AWSCredentials(accessKeyID: "ASIATASK", secretAccessKey: "secret-ASIATASK",
                                                                  sessionToken: "session-ASIATASK", expiration: expiration))
        XCTAssertEqual(server.requests.map(\.method), ["GET"])
        XCTAssertNil(server.requests[0].headers["authorization"], "no token configured, none sent")
    }

    func testFullURIWithAuthorizationToken() throws {
        let server = try CredentialsTestServer { [expiration] request in
            request.headers["authorization"] == "Basic c2VjcmV0"
                ? CannedResponse(200, credentialsJSON(key: "ASIAFULL", expiration: expiration))
                : CannedResponse(401, "{\"message\": \"bad token\"}")
        }
        defer { server.stop() }
        let env = ["AWS_CONTAINER_CREDENTIALS_FULL_URI": server.url + "/creds?x=1",
                   "AWS_CONTAINER_AUTHORIZATION_TOKEN": "Basic c2VjcmV0"]
        let chain = try CredentialsChain(environment: env.merging(["AWS_EC2_METADATA_DISABLED": "true", "HOME": "/nonexistent"]) { $1 })
        XCTAssertEqual(chain.source, .container(url: server.url + "/creds?x=1"))
        XCTAssertEqual(try chain.credentials().accessKeyID, "ASIAFULL")
        XCTAssertEqual(server.requests.first?.path, "/creds?x=1")

        let wrong = try XCTUnwrap(ContainerCredentialsProvider.fromEnvironment(
            ["AWS_CONTAINER_CREDENTIALS_FULL_URI": server.url + "/creds", "AWS_CONTAINER_AUTHORIZATION_TOKEN": "nope"]))
        XCTAssertThrowsError(try wrong.credentials()) { error in
            XCTAssertEqual("\(error)", "the container credentials endpoint \(server.url)/creds answered HTTP 401: {\"message\": \"bad token\"}")
        }
    }

    /// The token file wins over the variable and is read on every fetch (the EKS
    /// Pod Identity agent rotates it); its trailing newline is not part of it.
    func testTokenFileIsPreferredAndReReadEachTime() throws {
        let tokenFile = NSTemporaryDirectory() + "creds-token-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: tokenFile) }
        try "first-token\n".write(toFile: tokenFile, atomically: true, encoding: .utf8)
        let server = try CredentialsTestServer { [expiration] _ in CannedResponse(200, credentialsJSON(key: "ASIAPOD", expiration: expiration)) }
        defer { server.stop() }
        let provider = try XCTUnwrap(ContainerCredentialsProvider.fromEnvironment([
            "AWS_CONTAINER_CREDENTIALS_FULL_URI": server.url + "/v1/credentials",
            "AWS_CONTAINER_AUTHORIZATION_TOKEN": "from-variable",
            "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE": tokenFile,
        ]))
        _ = try provider.credentials()
        try "second-token".write(toFile: tokenFile, atomically: true, encoding: .utf8)
        _ = try provider.credentials()
        XCTAssertEqual(server.requests.map { $0.headers["authorization"] }, ["first-token", "second-token"])

        try "line\nbreak".write(toFile: tokenFile, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try provider.credentials()) { XCTAssertTrue("\($0)".contains("line break"), "\($0)") }
        try FileManager.default.removeItem(atPath: tokenFile)
        XCTAssertThrowsError(try provider.credentials()) { XCTAssertTrue("\($0)".contains("cannot read"), "\($0)") }
        XCTAssertEqual(server.requests.count, 2, "no request without a usable token")
    }

    func testFullURIHostRules() throws {
        for allowed in ["https://creds.example.com/x", "http://127.0.0.1:8080/x", "http://127.1.2.3/x", "http://localhost/x",
                        "http://[::1]:80/x", "http://169.254.170.2/x", "http://169.254.170.23/v1/credentials",
                        "http://[fd00:ec2::23]/v1/credentials"] {
            XCTAssertNoThrow(try ContainerCredentialsProvider.checkFullURI(allowed), allowed)
        }
        for refused in ["http://example.com/x", "http://10.0.0.1/x", "http://127.0.0.1.evil.com/x", "ftp://127.0.0.1/x", "not a url"] {
            XCTAssertThrowsError(try ContainerCredentialsProvider.checkFullURI(refused), refused)
        }
    }

    func testBadAnswersAreExplained() throws {
        let server = try CredentialsTestServer { request in
            switch request.path {
            case "/html": CannedResponse(200, "<html>captive portal</html>")
            case "/partial": CannedResponse(200, "{\"AccessKeyId\": \"A\"}")
            case "/date": CannedResponse(200, "{\"AccessKeyId\": \"A\", \"SecretAccessKey\": \"B\", \"Expiration\": \"tomorrow\"}")
            default: CannedResponse(500, "boom")
            }
        }
        defer { server.stop() }
        func message(_ path: String) -> String {
            let provider = ContainerCredentialsProvider(url: server.url + path, token: .none)
            do { _ = try provider.credentials(); return "no error" } catch { return "\(error)" }
        }
        XCTAssertTrue(message("/html").contains("not JSON"), message("/html"))
        XCTAssertTrue(message("/partial").contains("without AccessKeyId and SecretAccessKey"), message("/partial"))
        XCTAssertTrue(message("/date").contains("Expiration that is not an ISO 8601 time: \"tomorrow\""), message("/date"))
        XCTAssertTrue(message("/fail").hasSuffix("answered HTTP 500: boom"), message("/fail"))
    }
}
