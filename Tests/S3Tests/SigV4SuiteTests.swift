import XCTest
@testable import S3
import Digests

/// Cases of the AWS SigV4 test suite (awslabs/aws-c-auth, tests/aws-signing-test-suite/v4),
/// with the suite's context: AKIDEXAMPLE, us-east-1, service "service", 2015-08-30T12:36:00Z.
/// Each request is described as the suite's request.txt, the expected values are the
/// suite's signed requests and canonical requests. Only unnormalized paths (S3's rule).
final class SigV4SuiteTests: XCTestCase {
    let signer = SigV4Signer(region: "us-east-1", service: "service")
    let credentials = AWSCredentials(accessKeyID: "AKIDEXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
    let date = Date(timeIntervalSince1970: 1_440_938_160) // 2015-08-30T12:36:00Z
    let host = [(name: "Host", value: "example.amazonaws.com")]

    func headerSignature(_ rawPath: String, query: [(name: String, value: String)] = [],
                         headers extra: [(name: String, value: String)] = [], credentials: AWSCredentials? = nil) -> String {
        let request = SigV4Signer.Request(method: "GET", path: URIEncoding.encodePath(rawPath), query: query,
                                          headers: host + extra, payloadHash: Digest.emptySHA256)
        let added = signer.signatureHeaders(for: request, credentials: credentials ?? self.credentials, date: date)
        return added.first { $0.name == "Authorization" }!.value
    }

    func expectedAuthorization(_ signedHeaders: String, _ signature: String) -> String {
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=\(signedHeaders), Signature=\(signature)"
    }

    func testTimestampAndScope() {
        XCTAssertEqual(SigV4Signer.timestamp(date), "20150830T123600Z")
        XCTAssertEqual(signer.scope("20150830T123600Z"), "20150830/us-east-1/service/aws4_request")
    }

    // get-vanilla-with-session-token/header-signed-request.txt
    func testHeaderSessionToken() {
        var creds = credentials
        creds.sessionToken = "6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267"
        XCTAssertEqual(headerSignature("/", credentials: creds), expectedAuthorization(
            "host;x-amz-date;x-amz-security-token", "07ec1639c89043aa0e3e2de82b96708f198cceab042d4a97044c66dd9f74e7f8"))
    }

    // get-utf8/header-signed-request.txt: "GET /ሴ"
    func testHeaderUTF8Path() {
        XCTAssertEqual(headerSignature("/ሴ"), expectedAuthorization(
            "host;x-amz-date", "8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85"))
    }

    // get-unreserved/header-signed-request.txt
    func testHeaderUnreservedPath() {
        XCTAssertEqual(headerSignature("/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"), expectedAuthorization(
            "host;x-amz-date", "07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f"))
    }

    // get-space-unnormalized/header-signed-request.txt: "GET /example space/"
    func testHeaderSpaceUnnormalized() {
        XCTAssertEqual(headerSignature("/example space/"), expectedAuthorization(
            "host;x-amz-date", "652487583200325589f1fba4c7e578f72c47cb61beeca81406b39ddec1366741"))
    }

    // get-slashes-unnormalized/header-signed-request.txt: "GET //example//" kept as is
    func testHeaderSlashesUnnormalized() {
        XCTAssertEqual(headerSignature("//example//"), expectedAuthorization(
            "host;x-amz-date", "87cca117541a147f6df867677d98a7d80dff226d2bfca9e4ffa899665623c7e5"))
    }

    // get-slash-dot-slash-unnormalized/header-signed-request.txt: "GET /./" kept as is
    func testHeaderDotSegmentUnnormalized() {
        XCTAssertEqual(headerSignature("/./"), expectedAuthorization(
            "host;x-amz-date", "68714168e6557f8f2de0ef956fc24dc2593a4bd2961f8df51898d8a134695145"))
    }

    // get-vanilla-query-order-key-case/header-signed-request.txt: "GET /?Param2=value2&Param1=value1"
    func testHeaderQueryOrder() {
        XCTAssertEqual(headerSignature("/", query: [("Param2", "value2"), ("Param1", "value1")]), expectedAuthorization(
            "host;x-amz-date", "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"))
    }

    // get-vanilla-utf8-query/header-signed-request.txt: "GET /?ሴ=bar"
    func testHeaderUTF8Query() {
        XCTAssertEqual(headerSignature("/", query: [("ሴ", "bar")]), expectedAuthorization(
            "host;x-amz-date", "2cdec8eed098649ff3a119c94853b13c643bcf08f8b0a1d91e12c9027818dd04"))
    }

    // get-header-value-trim/header-signed-request.txt
    func testHeaderValueTrim() {
        XCTAssertEqual(headerSignature("/", headers: [("My-Header1", " value1"), ("My-Header2", " \"a   b   c\"")]), expectedAuthorization(
            "host;my-header1;my-header2;x-amz-date", "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736"))
    }

    // Query signing: get-unreserved and get-utf8 query-signed-request.txt (X-Amz-Expires=3600).
    func testQuerySigned() {
        for (path, signature) in [
            ("/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", "95968482db1b9e0fadef6efc1bd24689f77c77d9ef56919c96a28cc92e0d6005"),
            ("/ሴ", "10eae3f14a260bd3911cc6d008d3c576d143b05b62f09782a7a4b37f52178e44"),
        ] {
            let request = SigV4Signer.Request(method: "GET", path: URIEncoding.encodePath(path), headers: host, payloadHash: Digest.emptySHA256)
            let query = signer.presignedQuery(for: request, credentials: credentials, date: date, expires: 3600)
            XCTAssertEqual(query, "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20150830%2Fus-east-1%2Fservice%2Faws4_request&X-Amz-Date=20150830T123600Z&X-Amz-Expires=3600&X-Amz-SignedHeaders=host&X-Amz-Signature=\(signature)", path)
        }
    }

    // get-vanilla-with-session-token query-canonical-request.txt and query-string-to-sign.txt:
    // the canonical request's hash is the one in the string to sign.
    func testStringToSignHashesCanonicalRequest() {
        let canonical = "GET\n/\nX-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20150830%2Fus-east-1%2Fservice%2Faws4_request&X-Amz-Date=20150830T123600Z&X-Amz-Expires=3600&X-Amz-Security-Token=6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267&X-Amz-SignedHeaders=host%3Bx-amz-security-token\nhost:example.amazonaws.com\nx-amz-security-token:6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267\n\nhost;x-amz-security-token\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        XCTAssertEqual(signer.stringToSign(canonical, stamp: "20150830T123600Z", scope: signer.scope("20150830T123600Z")),
                       "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\n3ccf911b8d0ca9c791608b8f1550af1402a28ccc3a68f0d2023d6d7e334f2e72")
    }

    func testURIEncoding() {
        XCTAssertEqual(URIEncoding.encodePath("user_recordings/auth0|a b+c%~é/x.json"),
                       "user_recordings/auth0%7Ca%20b%2Bc%25~%C3%A9/x.json")
        XCTAssertEqual(URIEncoding.encode("a/b=c&d"), "a%2Fb%3Dc%26d")
        XCTAssertEqual(URIEncoding.decodeFormComponent("auth0%7Ca+b%2Bc%C3%A9"), "auth0|a b+cé")
        XCTAssertNil(URIEncoding.decodeFormComponent("bad%zz"))
        XCTAssertNil(URIEncoding.decodeFormComponent("%FF"))
    }
}
