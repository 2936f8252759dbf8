import JSON

/// What a handler returns. The transport writes the head, then the body in chunks.
public struct Response {
    public enum Body {
        case empty
        case bytes([UInt8])
        /// `length` bytes of a file from `offset`, read and sent in chunks.
        case file(path: String, offset: Int64, length: Int64)
        /// A producer that writes the body itself (e.g. an object streamed from S3).
        case stream((BodyWriter) throws -> Void)
    }

    public var status: Status
    public var headers: Headers
    public var body: Body

    public init(status: Status = .ok, headers: Headers = Headers(), body: Body = .empty) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    public static func json(_ value: JSON, status: Status = .ok, headers: Headers = Headers()) -> Response {
        var h = headers
        h.set("Content-Type", "application/json")
        return Response(status: status, headers: h, body: .bytes(value.bytes))
    }

    public static func text(_ text: String, status: Status = .ok, contentType: String = "text/plain; charset=utf-8") -> Response {
        var h = Headers()
        h.set("Content-Type", contentType)
        return Response(status: status, headers: h, body: .bytes(Array(text.utf8)))
    }

    /// The body length when known before sending.
    public var contentLength: Int64? {
        switch body {
        case .empty: 0
        case .bytes(let b): Int64(b.count)
        case .file(_, _, let length): length
        case .stream: nil
        }
    }
}

/// Where a streamed body goes.
public protocol BodyWriter {
    func write(_ bytes: UnsafeRawBufferPointer) throws
}
