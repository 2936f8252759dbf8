import HTTP

/// The headers of one part and what a form reader needs from them.
public struct PartHeaders: Sendable {
    /// The `name` of its Content-Disposition.
    public let name: String
    /// The `filename` of its Content-Disposition, when given (possibly empty: browsers
    /// send `filename=""` for an empty file input).
    public let filename: String?
    public let contentType: String?
    public let headers: Headers

    /// A part without a Content-Disposition `name` cannot be a form field → 400.
    init(_ headers: Headers) throws {
        guard let disposition = headers["Content-Disposition"] else {
            throw HTTPError(.badRequest, "multipart part without a Content-Disposition header")
        }
        let parsed = HeaderParameters(disposition)
        guard let name = parsed.parameter("name") else {
            throw HTTPError(.badRequest, "multipart part without a name")
        }
        self.name = name
        self.filename = parsed.parameter("filename")
        self.contentType = headers["Content-Type"]
        self.headers = headers
    }
}
