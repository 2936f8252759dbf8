/// What an `Authorization` header offers as a bearer token (RFC 6750 §2.1), parsed
/// at the HTTP edge so that Auth deals only in tokens. The scheme is matched without
/// regard to case; spaces and tabs around the token are dropped.
public enum BearerCredentials: Equatable, Sendable {
    /// No header, or only white space: no credentials were sent at all.
    case absent
    /// Another scheme (`Basic ...`), or `Bearer` run into the token.
    case otherScheme
    /// `Bearer` and nothing after it.
    case empty
    case token(String)

    public init(authorization value: String?) {
        guard let value, !value.utf8.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) else {
            self = .absent
            return
        }
        let trimmed = Substring(value.utf8.drop { $0 == 0x20 || $0 == 0x09 })
        let scheme = Substring(trimmed.utf8.prefix { $0 != 0x20 && $0 != 0x09 })
        guard String(scheme).caseInsensitiveEquals("Bearer") else {
            self = .otherScheme
            return
        }
        let token = trimmed[scheme.endIndex...].trimmingSpaces()
        self = token.isEmpty ? .empty : .token(token)
    }
}

extension Request {
    /// The request's `Authorization` header as bearer credentials.
    public var bearerCredentials: BearerCredentials { BearerCredentials(authorization: headers["Authorization"]) }
}

private extension Substring {
    /// Spaces and tabs off both ends, on UTF-8 bytes: this runs on every request,
    /// and the Character-based `reversed()` form cost more than the rest of it.
    func trimmingSpaces() -> String {
        let bytes = utf8
        var start = bytes.startIndex, end = bytes.endIndex
        while start < end, bytes[start] == 0x20 || bytes[start] == 0x09 { start = bytes.index(after: start) }
        while end > start {
            let before = bytes.index(before: end)
            guard bytes[before] == 0x20 || bytes[before] == 0x09 else { break }
            end = before
        }
        return String(self[start..<end])
    }
}
