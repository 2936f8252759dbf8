/// Where the responder accepts FastCGI connections from the web server.
public enum ListenAddress: Equatable, Sendable, CustomStringConvertible {
    /// A unix socket on this host (nginx on the same machine).
    case unix(path: String)
    /// A TCP address, for responders on other hosts than nginx.
    case tcp(host: String, port: UInt16)
    /// A listening socket opened by someone else (spawn-fcgi, systemd).
    case inherited(fd: Int32)

    /// Parses `HOST:PORT`, `[V6ADDR]:PORT` or `:PORT` (all interfaces).
    public static func tcp(parsing text: String) -> ListenAddress? {
        guard let colon = text.lastIndex(of: ":") else { return nil }
        var host = String(text[..<colon])
        guard let port = UInt16(text[text.index(after: colon)...]), port > 0 else { return nil }
        if host.hasPrefix("[") && host.hasSuffix("]") {
            host = String(host.dropFirst().dropLast())
        } else if host.contains(":") {
            return nil // an IPv6 address needs brackets
        }
        if host == "*" { host = "" }
        return .tcp(host: host, port: port)
    }

    public var description: String {
        switch self {
        case .unix(let path): "unix:\(path)"
        case .tcp(let host, let port): host.contains(":") ? "[\(host)]:\(port)" : "\(host.isEmpty ? "*" : host):\(port)"
        case .inherited(let fd): "inherited fd \(fd)"
        }
    }
}
