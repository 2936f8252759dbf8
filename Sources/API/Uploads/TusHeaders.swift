import Foundation
import HTTP

/// The request headers of tus 1.0.0, parsed strictly: anything malformed is a 400
/// before storage is touched.
enum TusHeaders {
    static let version = "1.0.0"
    static let extensions = "creation,creation-with-upload,termination,expiration"
    static let offsetContentType = "application/offset+octet-stream"
    /// Far above what a client sends; keeps the record small.
    static let maxMetadataBytes = 4096

    /// `Tus-Resumable` must name the one version we speak (412 otherwise, with
    /// `Tus-Version` so the client can tell why).
    static func checkVersion(_ request: Request) throws {
        guard request.headers["Tus-Resumable"]?.trimmingCharacters(in: .whitespaces) == version else {
            var h = Headers()
            h.set("Tus-Version", version)
            throw HTTPError(.preconditionFailed, "Tus-Resumable: \(version) is required.", headers: h)
        }
    }

    /// A non-negative decimal integer header (no sign, no spaces inside), or nil when absent.
    static func integer(_ request: Request, _ name: String) throws -> Int64? {
        guard let raw = request.headers[name] else { return nil }
        let text = raw.trimmingCharacters(in: .whitespaces)
        guard !text.isEmpty, text.utf8.count <= 18, text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), let n = Int64(text) else {
            throw HTTPError.badRequest("\(name) must be a non-negative integer.")
        }
        return n
    }

    /// Whether the body is tus data (`application/offset+octet-stream`, parameters ignored).
    static func hasOffsetBody(_ request: Request) -> Bool {
        guard let type = request.headers["Content-Type"] else { return false }
        let media = type.split(separator: ";", maxSplits: 1).first.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
        return media.caseInsensitiveEquals(offsetContentType)
    }

    /// `Upload-Metadata`: comma-separated `key` or `key base64value` pairs, keys
    /// unique and free of spaces and commas. Returned as sent, for HEAD.
    static func metadata(_ request: Request) throws -> String? {
        guard let raw = request.headers["Upload-Metadata"] else { return nil }
        let text = raw.trimmingCharacters(in: .whitespaces)
        if text.isEmpty { return nil }
        let invalid = HTTPError.badRequest("Upload-Metadata must be comma-separated pairs of a key and a base64 value.")
        guard text.utf8.count <= maxMetadataBytes else {
            throw HTTPError.badRequest("Upload-Metadata is longer than \(maxMetadataBytes) bytes.")
        }
        var keys = Set<String>()
        for pair in text.split(separator: ",", omittingEmptySubsequences: false) {
            let parts = pair.trimmingCharacters(in: .whitespaces).split(separator: " ", omittingEmptySubsequences: false)
            guard (1...2).contains(parts.count), let key = parts.first, !key.isEmpty,
                  key.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }), keys.insert(String(key)).inserted else { throw invalid }
            if parts.count == 2 {
                guard Data(base64Encoded: String(parts[1])) != nil else { throw invalid }
            }
        }
        return text
    }

    /// The upload id of `audio_upload`: the id itself, or a URL (absolute or a path)
    /// whose last segment is the id under `/api/v1/uploads/`.
    static func uploadID(reference: String) -> String? {
        var text = reference.trimmingCharacters(in: .whitespaces)
        if let cut = text.firstIndex(where: { $0 == "?" || $0 == "#" }) { text = String(text[..<cut]) }
        while text.hasSuffix("/") { text.removeLast() }
        if !text.contains("/") { return text }
        guard let slash = text.lastIndex(of: "/") else { return nil }
        let id = String(text[text.index(after: slash)...])
        guard text[..<slash].hasSuffix("/api/v1/uploads") else { return nil }
        return id
    }
}
