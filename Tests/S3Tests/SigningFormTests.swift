import Foundation
import XCTest
@testable import S3
import Digests

/// The `.decodedURL` signing form against what stock moto_server computes from the same
/// request: werkzeug's `Request.url` (the path percent-decoded as werkzeug's dev server
/// does) with botocore's `S3SigV4Auth`, exactly as moto/iam/access_control.py does.
/// And which forms are tried where: AWS only ever gets the AWS form.
final class SigningFormTests: XCTestCase {
    let date = Date(timeIntervalSince1970: 1_795_000_000)
    let credentials = StaticCredentialsProvider(accessKeyID: "AKIDEXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
    let keys = ["user_recordings/auth0|alice+x@y.z/20261121T233339Z-1a2b3c4d/audio.wav", "user_recordings/a b/s/transcript.txt",
                "user_settings/google-oauth2+x@y.z/settings.json", "user_recordings/ünï€😀/s/x", "user_recordings/~tilde.-_/s/x",
                "user_recordings/q?h#e=&;:,!$'()*[]/s/x", "user_recordings/<>\"{}^`\\|/s/x", "user_recordings/u1/s1/audio.wav"]

    func requests(_ store: S3Store) -> [S3Request] {
        var all: [S3Request] = []
        for key in keys {
            var put = store.request("PutObject", "PUT", key: key)
            put.body = .bytes(Array("hello".utf8))
            put.payloadHash = Digest.hex(Digest.sha256(Array("hello".utf8)))
            put.headers = [("Content-Type", "text/plain"), ("If-None-Match", "*")]
            all.append(put)
            all.append(store.request("HeadObject", "HEAD", key: key))
            let folder = String(key[...key.lastIndex(of: "/")!])
            var list = store.request("ListObjectsV2", "GET", key: nil)
            list.query = [("list-type", "2"), ("prefix", folder), ("encoding-type", "url"), ("max-keys", "1000"),
                          ("continuation-token", "a+b/c= %|"), ("start-after", key)]
            all.append(list)
            var initiate = store.request("CreateMultipartUpload", "POST", key: key)
            initiate.query = [("uploads", "")]
            all.append(initiate)
            var part = store.request("UploadPart", "PUT", key: key)
            part.query = [("partNumber", "1"), ("uploadId", "Zx9+/=id")]
            part.payloadHash = "UNSIGNED-PAYLOAD"
            all.append(part)
        }
        var delete = store.request("DeleteObjects", "POST", key: nil)
        delete.query = [("delete", "")]
        all.append(delete)
        return all
    }

    func testDecodedFormIsWhatStockMotoVerifies() throws {
        let store = S3Store(bucket: "recstore-bucket", region: "us-east-1", endpoint: "http://127.0.0.1:9000", credentials: credentials)
        let signed = try requests(store).map { try store.client.prepare($0, form: .decodedURL, date: date) }
        let theirs = try motoSignatures(signed.map { r in
            ["method": r.method, "url": r.url, "headers": r.headers.map { [$0.name, $0.value] }] as [String: Any]
        })
        XCTAssertEqual(theirs.count, signed.count)
        for (ours, expected) in zip(signed, theirs) {
            let authorization = ours.headers.first { $0.name == "Authorization" }!.value
            XCTAssertTrue(authorization.hasSuffix("Signature=" + expected), "\(ours.method) \(ours.url)")
        }
        // The URL sent is the same in both forms: only the signature differs.
        let aws = try requests(store).map { try store.client.prepare($0, form: .aws, date: date) }
        XCTAssertEqual(aws.map(\.url), signed.map(\.url))
    }

    func testFormsTriedPerEndpoint() {
        let custom = S3Store(bucket: "recstore-bucket", region: "us-east-1", endpoint: "http://127.0.0.1:9000", credentials: credentials)
        let awkward = custom.request("GetObject", "GET", key: keys[0])
        let plain = custom.request("GetObject", "GET", key: "user_recordings/u1/s1/audio.wav")
        var listing = custom.request("ListObjectsV2", "GET", key: nil)
        listing.query = [("list-type", "2"), ("prefix", "user_recordings/u1/")]
        var flat = custom.request("ListObjectsV2", "GET", key: nil)
        flat.query = [("list-type", "2"), ("max-keys", "1000")]
        XCTAssertEqual(custom.client.forms(for: awkward), [.aws, .decodedURL])
        XCTAssertEqual(custom.client.forms(for: listing), [.aws, .decodedURL], "stock moto decodes %2F in the query")
        XCTAssertEqual(custom.client.forms(for: plain), [.aws], "same canonical request either way")
        XCTAssertEqual(custom.client.forms(for: flat), [.aws])
        XCTAssertEqual(custom.client.forms(for: custom.request("HeadBucket", "HEAD", key: nil)), [.aws])
        XCTAssertEqual(custom.client.forms(for: custom.request("GetObject", "GET", key: "user_recordings/100%/s/x")), [.aws],
                       "no decoded form for a key with %")
        // Once the endpoint took the decoded form, it goes first; the AWS form stays the fallback.
        custom.client.noteAccepted(.decodedURL, among: [.aws, .decodedURL])
        XCTAssertEqual(custom.client.forms(for: awkward), [.decodedURL, .aws])
        XCTAssertEqual(custom.client.forms(for: plain), [.aws])
        custom.client.noteAccepted(.aws, among: [.decodedURL, .aws])
        XCTAssertEqual(custom.client.forms(for: awkward), [.aws, .decodedURL])

        // AWS: the AWS form only, whatever the key.
        let aws = S3Store(bucket: "recstore-bucket", region: "eu-west-3", credentials: credentials)
        XCTAssertNil(aws.client.signingForms)
        for r in requests(aws) { XCTAssertEqual(aws.client.forms(for: r), [.aws]) }
    }

    func testDecodedPieces() {
        XCTAssertEqual(SigningForm.decodedPath("/b/user_recordings/auth0%7Calice%2Bx%40y.z/a%20b%3F%23/%C3%BC"),
                       "/b/user_recordings/auth0|alice+x@y.z/a%20b%3F%23/ü")
        XCTAssertNil(SigningForm.decodedPath("/b/100%25/x"))
        XCTAssertEqual(SigningForm.decodedQuery([("prefix", "user_recordings/auth0|a+b@c/"), ("list-type", "2"), ("x", "%& =#")]),
                       "list-type=2&prefix=user_recordings/auth0|a%2Bb@c/&x=%25%26%20%3D%23")
        // Sorted in the decoded form: "a/b" after "a-b" ("%2F" would sort before "-").
        XCTAssertEqual(SigningForm.decodedQuery([("p", "a/b"), ("p", "a-b")]), "p=a-b&p=a/b")
    }

    /// What stock moto computes for each request: the signature it expects.
    func motoSignatures(_ requests: [[String: Any]]) throws -> [String] {
        let script = """
        import json, sys
        from urllib.parse import unquote, urlparse, urlsplit
        from werkzeug.wrappers import Request
        from botocore.auth import S3SigV4Auth
        from botocore.awsrequest import AWSRequest
        from botocore.credentials import Credentials
        creds = Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
        out = []
        for r in json.load(sys.stdin):
            parts = urlsplit(r["url"])
            headers = dict(r["headers"])
            # As werkzeug's dev server builds the environ (serving.py), and moto reads request.url.
            environ = {"REQUEST_METHOD": r["method"], "SCRIPT_NAME": "", "wsgi.url_scheme": parts.scheme,
                       "PATH_INFO": unquote(parts.path).encode().decode("latin-1"), "QUERY_STRING": parts.query,
                       "HTTP_HOST": parts.netloc, "SERVER_NAME": parts.hostname, "SERVER_PORT": str(parts.port)}
            url = urlparse(Request(environ).url)
            path = url.path + ("?" + url.query if url.query else "")
            # moto/iam/access_control.py: the signed headers, AWSRequest(url=path), S3SigV4Auth.
            auth_header = headers["Authorization"]
            signed = auth_header.partition("SignedHeaders=")[2].partition(",")[0].split(";")
            request = AWSRequest(method=r["method"], url=path, headers={k: v for k, v in headers.items() if k.lower() in signed})
            request.context["timestamp"] = headers["X-Amz-Date"]
            auth = S3SigV4Auth(creds, "s3", "us-east-1")
            out.append(auth.signature(auth.string_to_sign(request, auth.canonical_request(request)), request))
        print(json.dumps(out))
        """
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", "-c", script]
        let input = Pipe(), output = Pipe()
        p.standardInput = input
        p.standardOutput = output
        try p.run()
        input.fileHandleForWriting.write(try JSONSerialization.data(withJSONObject: requests))
        try input.fileHandleForWriting.close()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0)
        return try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String])
    }
}
