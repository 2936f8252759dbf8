import HTTP

/// The request's Content-Type, checked for `multipart/form-data` and its boundary.
enum MultipartContentType {
    /// The boundary of a `multipart/form-data` content type.
    /// Another type (or none) → 415; a missing or invalid boundary → 400.
    static func boundary(of contentType: String?) throws -> [UInt8] {
        guard let contentType else {
            throw HTTPError(.unsupportedMediaType, "expected a multipart/form-data body")
        }
        let parsed = HeaderParameters(contentType)
        guard parsed.value == "multipart/form-data" else {
            throw HTTPError(.unsupportedMediaType, "expected a multipart/form-data body, not \(parsed.value.isEmpty ? "an empty type" : parsed.value)")
        }
        guard let boundary = parsed.parameter("boundary"), isValid(Array(boundary.utf8)) else {
            throw HTTPError(.badRequest, "missing or invalid multipart boundary")
        }
        return Array(boundary.utf8)
    }

    /// RFC 2046: 1–70 characters, not ending in a space. Any printable ASCII is taken
    /// (clients stray from the RFC's set), but never CR or LF: the parser relies on
    /// CR appearing only at the start of the delimiter.
    static func isValid(_ boundary: [UInt8]) -> Bool {
        guard (1...70).contains(boundary.count), boundary.last != 0x20 else { return false }
        return boundary.allSatisfy { $0 >= 0x20 && $0 <= 0x7E }
    }
}
