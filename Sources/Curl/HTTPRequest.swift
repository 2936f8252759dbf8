/// One outgoing HTTP request, described as data so it can be signed (SigV4)
/// before it is sent.
public struct HTTPRequest: Sendable {
    public enum Body: Sendable {
        case none
        case bytes([UInt8])
        /// `length` bytes of a file from `offset`, read while sending (never held whole).
        case file(path: String, offset: Int64, length: Int64)

        public var length: Int64 {
            switch self {
            case .none: 0
            case .bytes(let b): Int64(b.count)
            case .file(_, _, let length): length
            }
        }
    }

    public var method: String
    public var url: String
    public var headers: [(name: String, value: String)]
    public var body: Body
    /// Seconds to establish the connection.
    public var connectTimeout: Double = 5
    /// Seconds for the whole exchange; 0 = none (large transfers rely on `lowSpeedTime`).
    public var timeout: Double = 0
    /// Abort when fewer than 1 KiB/s flow for this many seconds.
    public var lowSpeedTime: Int = 30

    public init(method: String, url: String, headers: [(name: String, value: String)] = [], body: Body = .none) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
    }
}

public struct HTTPResponse: Sendable {
    public var status: Int
    /// Header names lowercased, in arrival order.
    public var headers: [(name: String, value: String)]
    /// Empty when the body was streamed to a sink.
    public var body: [UInt8]

    public init(status: Int, headers: [(name: String, value: String)], body: [UInt8]) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    public func header(_ name: String) -> String? {
        let lower = name.lowercased()
        return headers.first { $0.name == lower }?.value
    }
}

/// The transfer itself failed (no HTTP status): connection refused, timeout, TLS,
/// or the body sink gave up.
public struct TransferError: Error, CustomStringConvertible, Sendable {
    public let code: Int
    public let message: String
    public init(code: Int, message: String) { self.code = code; self.message = message }
    public var description: String { "transfer failed (\(code)): \(message)" }
}
