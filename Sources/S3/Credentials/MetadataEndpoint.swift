import Curl
import Foundation

/// One request to a link-local credentials endpoint (container or EC2 instance
/// metadata). Short timeouts: on a machine without the endpoint the chain must fail
/// in about a second, not hang a request thread.
enum MetadataEndpoint {
    static let connectTimeout: Double = 1
    static let timeout: Double = 3

    /// Any HTTP status is returned; only a transfer failure throws.
    static func send(_ method: String, _ url: String, headers: [(name: String, value: String)],
                     what: String) throws(CredentialsError) -> HTTPResponse {
        var request = HTTPRequest(method: method, url: url, headers: headers)
        request.connectTimeout = connectTimeout
        request.timeout = timeout
        do {
            return try CurlSession.perThread.perform(request, maxBodyBytes: 64 * 1024)
        } catch {
            throw CredentialsError("\(what) at \(url) cannot be reached: \((error as? TransferError)?.message ?? "\(error)")")
        }
    }

    /// "answered 500: <start of the body>", for error messages.
    static func describe(_ response: HTTPResponse) -> String {
        let text = String(decoding: response.body.prefix(200), as: UTF8.self)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        return "answered HTTP \(response.status)" + (text.isEmpty ? "" : ": \(text)")
    }
}
