import Foundation
import XCTest
@testable import S3

/// The shared credentials and config files, as the AWS CLI and boto3 read them.
final class CredentialsProfileTests: XCTestCase {
    private var home: String!

    override func setUpWithError() throws {
        home = NSTemporaryDirectory() + "creds-profile-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: home + "/.aws", withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: home)
    }

    private func write(_ text: String, _ name: String) throws {
        try text.write(toFile: home + "/" + name, atomically: true, encoding: .utf8)
    }

    private func resolve(_ extra: [String: String] = [:]) throws -> CredentialsChain {
        try CredentialsChain(environment: ["HOME": home, "AWS_EC2_METADATA_DISABLED": "true"].merging(extra) { $1 })
    }

    func testDefaultProfileOfTheCredentialsFileUnderHome() throws {
        try write("""
            # written by aws configure
            [default]
            aws_access_key_id = AKIDDEFAULT
            aws_secret_access_key = wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY
            aws_session_token = tok=en
            """, ".aws/credentials")
        let chain = try resolve()
        XCTAssertEqual(chain.source, .profile(name: "default", credentialsFile: home + "/.aws/credentials", configFile: home + "/.aws/config"))
        XCTAssertEqual(try chain.credentials(), AWSCredentials(accessKeyID: "AKIDDEFAULT",
            secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", sessionToken: "tok=en"))
    }

    func testNamedProfileInConfigNeedsTheProfilePrefix() throws {
        try write("""
            [default]
            region = eu-west-1
            [profile work]
            aws_access_key_id = AKIDWORK
            aws_secret_access_key = from-config
            [other]
            aws_access_key_id = AKIDOTHER
            aws_secret_access_key = not-a-profile-in-config
            """, ".aws/config")
        XCTAssertEqual(try resolve(["AWS_PROFILE": "work"]).credentials().accessKeyID, "AKIDWORK")
        // `[other]` in the config file is not profile "other".
        XCTAssertThrowsError(try resolve(["AWS_PROFILE": "other"])) { error in
            XCTAssertTrue("\(error)".contains("AWS_PROFILE names profile 'other'"), "\(error)")
        }
        // The default profile has only a region: no keys, so the chain goes on (and ends here).
        XCTAssertThrowsError(try resolve()) { error in
            XCTAssertTrue("\(error)".hasPrefix("no AWS credentials:"), "\(error)")
        }
    }

    func testCredentialsFileSectionsHaveNoPrefix() throws {
        try write("[profile work]\naws_access_key_id = A\naws_secret_access_key = B\n", ".aws/credentials")
        XCTAssertThrowsError(try resolve(["AWS_PROFILE": "work"]))
        XCTAssertEqual(try resolve(["AWS_PROFILE": "profile work"]).credentials().accessKeyID, "A")
    }

    func testCredentialsFileWinsKeyByKeyOverConfig() throws {
        try write("[profile work]\naws_access_key_id = AKIDCONFIG\naws_secret_access_key = config-secret\naws_session_token = config-token\n",
                  ".aws/config")
        try write("[work]\naws_access_key_id = AKIDCREDS\naws_secret_access_key = creds-secret\n", ".aws/credentials")
        XCTAssertEqual(try resolve(["AWS_PROFILE": "work"]).credentials(),
                       AWSCredentials(accessKeyID: "AKIDCREDS", secretAccessKey: "creds-secret", sessionToken: "config-token"))
    }

    func testFilesNamedByVariablesWithTilde() throws {
        try FileManager.default.createDirectory(atPath: home + "/elsewhere", withIntermediateDirectories: true)
        try write("[ci]\naws_access_key_id = AKIDCI\naws_secret_access_key = ci\n", "elsewhere/creds.ini")
        try write("[default]\naws_access_key_id = AKIDIGNORED\naws_secret_access_key = x\n", ".aws/credentials")
        let chain = try resolve(["AWS_SHARED_CREDENTIALS_FILE": "~/elsewhere/creds.ini", "AWS_CONFIG_FILE": "~/elsewhere/none",
                                 "AWS_PROFILE": "ci"])
        XCTAssertEqual(chain.source, .profile(name: "ci", credentialsFile: home + "/elsewhere/creds.ini", configFile: home + "/elsewhere/none"))
        XCTAssertEqual(try chain.credentials().accessKeyID, "AKIDCI")
    }

    func testCommentsNestedBlocksCRLFAndKeyCase() throws {
        try write("""
            ; a comment\r
            [default]\r
            s3 =\r
              aws_access_key_id = AKIDNESTED\r
              max_concurrent_requests = 20\r
            AWS_Access_Key_ID=AKIDTOP\r
            # aws_secret_access_key = commented-out\r
            aws_secret_access_key   =   spaced   \r
            """, ".aws/credentials")
        XCTAssertEqual(try resolve().credentials(), AWSCredentials(accessKeyID: "AKIDTOP", secretAccessKey: "spaced"))
    }

    func testIndentedKeysAtTheSameDepthAreKeys() throws {
        try write("[default]\n  aws_access_key_id = AKIDINDENT\n  aws_secret_access_key = indented\n", ".aws/credentials")
        XCTAssertEqual(try resolve().credentials().secretAccessKey, "indented")
    }

    func testHalfAKeyPairIsAnError() throws {
        try write("[default]\naws_access_key_id = AKIDHALF\n", ".aws/credentials")
        XCTAssertThrowsError(try resolve()) { error in
            XCTAssertEqual("\(error)", "profile 'default' has aws_access_key_id but no aws_secret_access_key")
        }
    }

    func testUnsupportedWaysAreNamedNotSkipped() throws {
        try write("[profile deploy]\nrole_arn = arn:aws:iam::123456789012:role/deploy\nsource_profile = default\n", ".aws/config")
        XCTAssertThrowsError(try resolve(["AWS_PROFILE": "deploy"])) { error in
            XCTAssertTrue("\(error)".contains("through role_arn, which recstore does not support"), "\(error)")
        }
    }

    func testMissingFilesAreNoProfile() throws {
        XCTAssertThrowsError(try resolve(["AWS_PROFILE": "nowhere"])) { error in
            XCTAssertTrue("\(error)".contains("in neither \(home!)/.aws/credentials nor \(home!)/.aws/config"), "\(error)")
        }
    }
}
