import Foundation
import Diagnostics
import JSON

/// The JSON both the container endpoint and EC2 instance metadata answer with:
/// `{"Code": "Success", "AccessKeyId": …, "SecretAccessKey": …, "Token": …, "Expiration": "…Z"}`.
enum CredentialsDocument {
    static func parse(_ body: [UInt8], from source: String) throws(CredentialsError) -> AWSCredentials {
        let json: JSON
        do { json = try JSON.parse(body) } catch {
            throw CredentialsError("\(source) answered with something that is not JSON (\(error))")
        }
        guard let object = json.objectValue else {
            throw CredentialsError("\(source) answered with JSON that is not an object")
        }
        if let code = object["Code"]?.stringValue, code != "Success" {
            let detail = object["Message"]?.stringValue.map { ": \($0)" } ?? ""
            throw CredentialsError("\(source) reports \(code)\(detail)")
        }
        guard let id = object["AccessKeyId"]?.stringValue, !id.isEmpty,
              let secret = object["SecretAccessKey"]?.stringValue, !secret.isEmpty else {
            throw CredentialsError("\(source) answered without AccessKeyId and SecretAccessKey")
        }
        var expiration: Date?
        if let text = object["Expiration"]?.stringValue {
            guard let date = Timestamp.parse(text) else {
                throw CredentialsError("\(source) gave an Expiration that is not an ISO 8601 time: \"\(text)\"")
            }
            expiration = date
        }
        let token = object["Token"]?.stringValue.flatMap { $0.isEmpty ? nil : $0 }
        return AWSCredentials(accessKeyID: id, secretAccessKey: secret, sessionToken: token, expiration: expiration)
    }
}
