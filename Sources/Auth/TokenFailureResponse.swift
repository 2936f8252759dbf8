import HTTP

/// A refused token is a 401 with the RFC 6750 challenge; the reason (a fixed phrase,
/// never token content) goes into `error_description`. No key to check with is a 503.
extension TokenFailure: HTTPResponseError {
    public var status: Status {
        switch self {
        case .invalid, .missing: .unauthorized
        case .unavailable: .serviceUnavailable
        }
    }

    public var detail: String {
        switch self {
        case .invalid(let reason): "Invalid token: \(reason)"
        case .missing: "Not authenticated"
        case .unavailable: "Authentication is unavailable: no JWKS key could be loaded"
        }
    }

    public var headers: Headers {
        switch self {
        case .invalid(let reason): Self.challenge(error: reason)
        case .missing: Self.challenge(error: nil)
        case .unavailable(let retryAfter): HTTPError.retryAfterHeaders(retryAfter)
        }
    }

    /// `WWW-Authenticate: Bearer realm="recstore"`, with `error="invalid_token"` and the
    /// description when there is one (none when no credentials were sent at all).
    static func challenge(error description: String?) -> Headers {
        var challenge = "Bearer realm=\"recstore\""
        if let description {
            // Descriptions are fixed phrases; still, keep the header well-formed (RFC 6750 §3).
            let safe = description.unicodeScalars.filter { $0.value >= 0x20 && $0.value < 0x7F && $0 != "\"" && $0 != "\\" }
            challenge += ", error=\"invalid_token\", error_description=\"\(String(String.UnicodeScalarView(safe)))\""
        }
        var headers = Headers()
        headers.set("WWW-Authenticate", challenge)
        return headers
    }
}
