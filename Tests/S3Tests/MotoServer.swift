import Foundation
@testable import S3
import TestSupport

/// A moto S3 server with signature checks on, started through the integration
/// fixture (Tests/integration/moto_server.py); it stops when we close its stdin.
/// `stock`: plain moto_server, which up to 5.2.3 verifies signatures over its decoded
/// URL rather than the request as sent (see `SigningForm`); later versions as AWS does.
final class MotoServer: @unchecked Sendable {
    let endpoint: String
    let region: String
    let bucket: String
    let accessKeyID: String
    let secretAccessKey: String
    /// Whether this server refuses AWS's form where `.decodedURL` differs (old stock moto).
    let verifiesDecodedURL: Bool
    private let helper: HelperProcess

    init(bucket: String = "recstore-test", stock: Bool = false) throws {
        helper = try HelperProcess(script: "moto_server.py", arguments: ["--bucket", bucket] + (stock ? ["--stock"] : []))
        let line = helper.readyLine
        guard let info = try? JSONSerialization.jsonObject(with: line) as? [String: Any],
              let endpoint = info["endpoint"] as? String, let key = info["access_key_id"] as? String,
              let secret = info["secret_access_key"] as? String else {
            helper.terminate()
            throw NSError(domain: "MotoServer", code: 1, userInfo: [NSLocalizedDescriptionKey: "moto did not start: \(String(decoding: line, as: UTF8.self))"])
        }
        self.endpoint = endpoint
        self.region = info["region"] as? String ?? "us-east-1"
        self.bucket = bucket
        self.accessKeyID = key
        self.secretAccessKey = secret
        self.verifiesDecodedURL = info["verifies_decoded_url"] as? Bool ?? false
    }

    /// The form a store for this server signs in first once it has been refused (or not).
    var learnedForm: SigningForm { verifiesDecodedURL ? .decodedURL : .aws }

    var credentials: StaticCredentialsProvider {
        StaticCredentialsProvider(accessKeyID: accessKeyID, secretAccessKey: secretAccessKey)
    }

    func store(secret: String? = nil, options: S3Options = S3Options()) -> S3Store {
        S3Store(bucket: bucket, region: region, endpoint: endpoint,
                credentials: StaticCredentialsProvider(accessKeyID: accessKeyID, secretAccessKey: secret ?? secretAccessKey),
                options: options)
    }

    /// Runs a boto3 snippet against this server (`s3` and `bucket` are defined) and
    /// returns what it prints: an independent view of the bucket.
    func boto(_ code: String) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        let prelude = """
        import boto3, json, sys
        from botocore.config import Config
        s3 = boto3.client("s3", endpoint_url=\(json(endpoint)), region_name=\(json(region)), aws_access_key_id=\(json(accessKeyID)), aws_secret_access_key=\(json(secretAccessKey)), config=Config(s3={"addressing_style": "path"}))
        bucket = \(json(bucket))

        """
        p.arguments = ["python3", "-c", prelude + code]
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else { throw NSError(domain: "boto", code: Int(p.terminationStatus)) }
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    private func json(_ s: String) -> String {
        String(decoding: try! JSONSerialization.data(withJSONObject: [s], options: [.withoutEscapingSlashes]), as: UTF8.self).dropFirst().dropLast().description
    }

    func stop() { helper.stop() }

    deinit { helper.stop() }
}
