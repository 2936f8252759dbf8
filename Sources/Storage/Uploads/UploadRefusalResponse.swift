import HTTP

/// The tus status of each refusal.
extension UploadRefusal: HTTPResponseError {
    public var status: Status {
        switch self {
        case .notFound: .notFound
        case .offsetMismatch, .busy: .conflict
        case .pastLength: .payloadTooLarge
        }
    }

    public var headers: Headers {
        var h = Headers()
        if case .offsetMismatch(let stored) = self { h.set("Upload-Offset", String(stored)) }
        return h
    }

    public var detail: String {
        switch self {
        case .notFound: "No such upload (it may have expired)."
        case .offsetMismatch(let stored): "Upload-Offset does not match the stored offset \(stored)."
        case .busy: "Another request is appending to this upload; ask HEAD for the offset and resume."
        case .pastLength(let length): "The body would pass Upload-Length (\(length) bytes); nothing was stored."
        }
    }
}
