import Foundation
import XCTest
@testable import S3

/// Which source the chain picks, in which order, and how it reports a wrong one.
final class CredentialsChainTests: XCTestCase {
    private var home: String!

    override func setUpWithError() throws {
        home = NSTemporaryDirectory() + "creds-chain-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: home + "/.aws", withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: home)
    }

    /// An environment that would reach none of the sources unless a test adds one.
    private var bare: [String: String] { ["HOME": home, "AWS_EC2_METADATA_DISABLED": "true"] }

    func testEnvironmentKeysWithSessionToken() throws {
        var env = bare
        env["AWS_ACCESS_KEY_ID"] = "AKIDENV"
        env["AWS_SECRET_ACCESS_KEY"] = "secret/env"
        env["AWS_SESSION_TOKEN"] = "token-env"
        let chain = try CredentialsChain(environment: env)
        XCTAssertEqual(chain.source, .environment)
        XCTAssertEqual(try chain.credentials(),
                       AWSCredentials(accessKeyID: "AKIDENV", secretAccessKey: "secret/env", sessionToken: "token-env"))
    }

    func testEnvironmentWinsOverProfile() throws {
        try "[default]\naws_access_key_id = AKIDFILE\naws_secret_access_key = file\n"
            .write(toFile: home + "/.aws/credentials", atomically: true, encoding: .utf8)
        var env = bare
        env["AWS_ACCESS_KEY_ID"] = "AKIDENV"
        env["AWS_SECRET_ACCESS_KEY"] = "env"
        XCTAssertEqual(try CredentialsChain(environment: env).credentials().accessKeyID, "AKIDENV")
        XCTAssertEqual(try CredentialsChain(environment: bare).credentials().accessKeyID, "AKIDFILE")
    }

    func testKeyWithoutSecretIsNamed() {
        var env = bare
        env["AWS_ACCESS_KEY_ID"] = "AKIDENV"
        XCTAssertThrowsError(try CredentialsChain(environment: env)) { error in
            XCTAssertEqual((error as? CredentialsError)?.message, "AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not")
        }
        env = bare
        env["AWS_SECRET_ACCESS_KEY"] = "s"
        XCTAssertThrowsError(try CredentialsChain(environment: env)) { error in
            XCTAssertEqual((error as? CredentialsError)?.message, "AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not")
        }
    }

    func testEmptyVariablesCountAsUnset() {
        var env = bare
        env["AWS_ACCESS_KEY_ID"] = ""
        env["AWS_SECRET_ACCESS_KEY"] = " "
        XCTAssertThrowsError(try CredentialsChain(environment: env)) { error in
            XCTAssertTrue((error as? CredentialsError)?.message.hasPrefix("no AWS credentials:") ?? false, "\(error)")
        }
    }

    func testNothingAnywhereWithMetadataDisabled() {
        XCTAssertThrowsError(try CredentialsChain(environment: bare)) { error in
            let message = (error as? CredentialsError)?.message ?? ""
            XCTAssertTrue(message.contains("AWS_EC2_METADATA_DISABLED=true"), message)
            XCTAssertTrue(message.contains("profile 'default'"), message)
        }
    }

    func testContainerBeforeInstanceRole() throws {
        var env = bare
        env["AWS_EC2_METADATA_DISABLED"] = nil
        env["AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"] = "/v2/credentials/task-1"
        let chain = try CredentialsChain(environment: env)
        XCTAssertEqual(chain.source, .container(url: "http://169.254.170.2/v2/credentials/task-1"))
        XCTAssertTrue(chain.provider is RefreshingCredentialsProvider)
    }

    func testRelativeURIWinsOverFullURI() throws {
        var env = bare
        env["AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"] = "/rel"
        env["AWS_CONTAINER_CREDENTIALS_FULL_URI"] = "http://127.0.0.1:9/full"
        XCTAssertEqual(try CredentialsChain(environment: env).source, .container(url: "http://169.254.170.2/rel"))
    }

    func testInstanceRoleIsTheLastResort() throws {
        var env = bare
        env["AWS_EC2_METADATA_DISABLED"] = "false"
        XCTAssertEqual(try CredentialsChain(environment: env).source, .instanceMetadata(endpoint: "http://169.254.169.254"))
        env["AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE"] = "IPv6"
        XCTAssertEqual(try CredentialsChain(environment: env).source, .instanceMetadata(endpoint: "http://[fd00:ec2::254]"))
        env["AWS_EC2_METADATA_SERVICE_ENDPOINT"] = "http://127.0.0.1:1338/"
        XCTAssertEqual(try CredentialsChain(environment: env).source, .instanceMetadata(endpoint: "http://127.0.0.1:1338"))
        env["AWS_EC2_METADATA_SERVICE_ENDPOINT"] = "169.254.169.254"
        XCTAssertThrowsError(try CredentialsChain(environment: env))
    }

    /// On a machine without an instance metadata service the chain must give up in
    /// about a second (1 s connect timeout), and say where it looked.
    func testUnreachableInstanceMetadataFailsFast() throws {
        var env = bare
        env["AWS_EC2_METADATA_DISABLED"] = nil
        env["AWS_EC2_METADATA_SERVICE_ENDPOINT"] = "http://192.0.2.1"  // TEST-NET-1: never answers
        let chain = try CredentialsChain(environment: env)
        let start = Date()
        XCTAssertThrowsError(try chain.credentials()) { error in
            let message = (error as? CredentialsError)?.message ?? ""
            XCTAssertTrue(message.hasPrefix("no AWS credentials from the EC2 instance role (IMDSv2 at http://192.0.2.1)"), message)
            XCTAssertTrue(message.contains("cannot be reached"), message)
        }
        XCTAssertLessThan(Date().timeIntervalSince(start), 2.5)
    }

    func testInstanceRoleThroughTheChain() throws {
        let server = try CredentialsTestServer { request in
            switch (request.method, request.path) {
            case ("PUT", "/latest/api/token"): CannedResponse(200, "t0k")
            case ("GET", "/latest/meta-data/iam/security-credentials/"): CannedResponse(200, "web-role")
            case ("GET", "/latest/meta-data/iam/security-credentials/web-role"):
                CannedResponse(200, credentialsJSON(key: "ASIAIMDS", expiration: Date().addingTimeInterval(3600)))
            default: CannedResponse(404)
            }
        }
        defer { server.stop() }
        var env = bare
        env["AWS_EC2_METADATA_DISABLED"] = nil
        env["AWS_EC2_METADATA_SERVICE_ENDPOINT"] = server.url
        let chain = try CredentialsChain(environment: env)
        XCTAssertEqual(try chain.credentials().accessKeyID, "ASIAIMDS")
        XCTAssertEqual(try chain.credentials().sessionToken, "session-ASIAIMDS")
        XCTAssertEqual(server.requests.count, 3, "the second call is served from the cache")
    }
}

/// The JSON the container endpoint and instance metadata answer with.
func credentialsJSON(key: String, expiration: Date?, code: String? = nil) -> String {
    var fields: [String] = []
    if let code { fields.append("\"Code\": \"\(code)\"") }
    fields.append("\"AccessKeyId\": \"\(key)\"")
    fields.append("\"SecretAccessKey\": \"secret-\(key)\"")
    fields.append("\"Token\": \"session-\(key)\"")
    if let expiration {
        let formatter = ISO8601DateFormatter()
        formatter.timeZone = TimeZone(identifier: "UTC")
        fields.append("\"Expiration\": \"\(formatter.string(from: expiration))\"")
    }
    return "{" + fields.joined(separator: ", ") + "}"
}
