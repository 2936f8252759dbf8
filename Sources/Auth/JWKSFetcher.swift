import Curl
import Foundation

/// Gets the JWKS document's bytes from its configured source.
public struct JWKSFetcher: Sendable {
    public static let maxBytes = 1024 * 1024

    public let source: JWKSSource
    public let timeoutSeconds: Double

    public init(source: JWKSSource, timeoutSeconds: Double) {
        self.source = source
        self.timeoutSeconds = timeoutSeconds
    }

    public func fetch() throws(JWKSetError) -> [UInt8] {
        switch source {
        case .file(let path):
            guard let data = FileManager.default.contents(atPath: path) else {
                throw JWKSetError(message: "cannot read JWKS file \(path)")
            }
            guard data.count <= Self.maxBytes else { throw JWKSetError(message: "JWKS file \(path) is larger than 1 MiB") }
            return [UInt8](data)
        case .url(let url):
            var request = HTTPRequest(method: "GET", url: url, headers: [("Accept", "application/json")])
            request.connectTimeout = timeoutSeconds
            request.timeout = timeoutSeconds
            let response: HTTPResponse
            do {
                // A session of its own: fetches are rare and may run on a short-lived thread.
                response = try CurlSession().perform(request, maxBodyBytes: Self.maxBytes)
            } catch {
                throw JWKSetError(message: "JWKS fetch from \(url) failed: \(error)")
            }
            guard response.status == 200 else {
                throw JWKSetError(message: "JWKS fetch from \(url) answered \(response.status)")
            }
            return response.body
        }
    }

    /// Where the keys come from, for logs and readiness.
    public var sourceDescription: String {
        switch source {
        case .file(let path): "file \(path)"
        case .url(let url): url
        }
    }
}
