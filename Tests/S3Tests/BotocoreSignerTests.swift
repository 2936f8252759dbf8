import Curl
import Foundation
import Storage
import XCTest
@testable import S3
import Digests

/// Our S3 requests, signed at a fixed time, compared with what botocore's own S3
/// signer (S3SigV4Auth, S3SigV4QueryAuth) makes of the same request, for keys with
/// spaces, |, +, %, unicode, ~ and more; botocore builds its URLs itself.
final class BotocoreSignerTests: XCTestCase {
    let keys = ["user_recordings/auth0|5f7c8ec7c33c6c004bbafe82/20261121T233339Z-1a2b3c4d/audio.wav",
                "user_recordings/a b/s/transcript.txt", "user_settings/google-oauth2+x@y.z/settings.json",
                "user_recordings/100%25 done/s/x", "user_recordings/ünï€😀/s/x", "user_recordings/~tilde.-_/s/x",
                "user_recordings/q?h#e=&;:,!$'()*[]/s/x"]
    let date = Date(timeIntervalSince1970: 1_795_000_000)

    func testAgainstBotocore() throws {
        for (endpoint, region, token) in [("http://127.0.0.1:9000", "us-east-1", nil as String?),
                                          (nil, "eu-west-3", "FwoGZXIvYXdzEJr//////////token+/="),
                                          (nil, "us-east-1", nil)] {
            let credentials = StaticCredentialsProvider(accessKeyID: "AKIDEXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", sessionToken: token)
            let store = S3Store(bucket: "recstore-bucket", region: region, endpoint: endpoint, credentials: credentials)
            var ours: [[String: String]] = []
            for key in keys {
                var put = store.request("PutObject", "PUT", key: key)
                put.body = .bytes(Array("hello".utf8))
                put.payloadHash = Digest.hex(Digest.sha256(Array("hello".utf8)))
                put.headers = [("Content-Type", "text/plain"), ("If-None-Match", "*")]
                var list = store.request("ListObjectsV2", "GET", key: nil)
                list.query = [("list-type", "2"), ("prefix", key), ("encoding-type", "url"), ("continuation-token", "a+b/c=")]
                let signedPut = try store.client.prepare(put, date: date)
                let signedList = try store.client.prepare(list, date: date)
                ours.append(["put_url": signedPut.url, "put_authorization": signedPut.headers.first { $0.name == "Authorization" }!.value,
                             "list_url": signedList.url, "list_authorization": signedList.headers.first { $0.name == "Authorization" }!.value,
                             "presigned": try XCTUnwrap(store.presignedURL(key: key, seconds: 900, date: date))])
            }
            let theirs = try botocore(endpoint: endpoint, region: region, token: token)
            XCTAssertEqual(ours.count, theirs.count)
            for (i, (o, t)) in zip(ours, theirs).enumerated() {
                for field in ["put_url", "put_authorization", "list_authorization"] {
                    XCTAssertEqual(o[field], t[field], "\(field) of \(keys[i]) (\(endpoint ?? region))")
                }
                XCTAssertEqual(sortedQuery(o["list_url"]!), sortedQuery(t["list_url"]!), keys[i])
                // Same URL and parameters (botocore orders them differently; the signature covers the sorted form).
                XCTAssertEqual(o["presigned"]!.split(separator: "?").first, t["presigned"]!.split(separator: "?").first, keys[i])
                XCTAssertEqual(sortedQuery(o["presigned"]!), sortedQuery(t["presigned"]!), keys[i])
            }
        }
    }

    func sortedQuery(_ url: String) -> [String] {
        url.split(separator: "?", maxSplits: 1).last!.split(separator: "&").map(String.init).sorted()
    }

    func botocore(endpoint: String?, region: String, token: String?) throws -> [[String: String]] {
        let script = """
        import datetime, json, sys
        from unittest import mock
        import botocore.auth
        from botocore.auth import S3SigV4Auth, S3SigV4QueryAuth
        from botocore.awsrequest import AWSRequest
        from botocore.credentials import Credentials
        from botocore.utils import percent_encode, percent_encode_sequence
        args = json.loads(sys.argv[1])
        creds = Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", args["token"])
        if args["endpoint"]:
            base = args["endpoint"] + "/recstore-bucket"
        else:
            base = "https://recstore-bucket.s3.%s.amazonaws.com" % args["region"]
        now = datetime.datetime.fromtimestamp(args["time"], datetime.timezone.utc).replace(tzinfo=None)
        out = []
        with mock.patch.object(botocore.auth, "get_current_datetime", return_value=now):
            for key in args["keys"]:
                url = base + "/" + percent_encode(key, safe="/~")
                put = AWSRequest("PUT", url, data=b"hello", headers={"Content-Type": "text/plain", "If-None-Match": "*"})
                S3SigV4Auth(creds, "s3", args["region"]).add_auth(put)
                query = percent_encode_sequence([("list-type", "2"), ("prefix", key), ("encoding-type", "url"), ("continuation-token", "a+b/c=")])
                listing = AWSRequest("GET", (base if args["endpoint"] else base + "/") + "?" + query)
                S3SigV4Auth(creds, "s3", args["region"]).add_auth(listing)
                get = AWSRequest("GET", url)
                S3SigV4QueryAuth(creds, "s3", args["region"], expires=900).add_auth(get)
                out.append({"put_url": put.url, "put_authorization": put.headers["Authorization"],
                            "list_url": listing.url, "list_authorization": listing.headers["Authorization"],
                            "presigned": get.url})
        print(json.dumps(out))
        """
        let args: [String: Any] = ["endpoint": endpoint ?? NSNull(), "region": region, "token": token ?? NSNull(),
                                   "time": date.timeIntervalSince1970, "keys": keys]
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", "-c", script, String(decoding: try JSONSerialization.data(withJSONObject: args), as: UTF8.self)]
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0)
        return try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [[String: String]])
    }
}
