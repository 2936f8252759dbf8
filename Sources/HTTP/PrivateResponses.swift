/// API.md: every `/api/v1` response carries `Cache-Control: no-store` and
/// `X-Content-Type-Options: nosniff`, so private data never lands in a shared or
/// disk cache and no browser guesses a type for it. Applied by the transport to
/// every response it writes, whatever produced it (a handler, an error, a fallback).
public enum PrivateResponses {
    public static func applies(to path: String) -> Bool {
        path == "/api/v1" || path.hasPrefix("/api/v1/")
    }

    public static let fields: [(name: String, value: String)] = [("Cache-Control", "no-store"), ("X-Content-Type-Options", "nosniff")]

    public static func mark(_ headers: inout Headers) {
        for (name, value) in fields { headers.set(name, value) }
    }
}
