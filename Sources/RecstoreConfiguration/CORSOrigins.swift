import Foundation

/// `CORS_ALLOW_ORIGINS`: the browser origins allowed to call the API, compared
/// byte for byte with the `Origin` header a browser sends. A browser always sends
/// the serialized form (`scheme://host[:port]`, lowercase, no path, no trailing
/// slash), so an entry written any other way could never match: it is refused at
/// start instead of silently allowing nothing. `*` and `null` are refused too: the
/// API is called with bearer tokens on behalf of one user, and `null` is the origin
/// of every sandboxed frame and local file.
public enum CORSOrigins {
    /// Comma-separated entries; blanks around them and empty entries are ignored.
    public static func parse(_ list: String) throws(ConfigurationError) -> [String] {
        var origins: [String] = []
        for raw in list.split(separator: ",") {
            let entry = raw.trimmingCharacters(in: .whitespaces)
            if entry.isEmpty { continue }
            if let problem = problem(with: entry) {
                throw ConfigurationError("CORS_ALLOW_ORIGINS", "\"\(entry)\" \(problem)")
            }
            if !origins.contains(entry) { origins.append(entry) }
        }
        return origins
    }

    /// Why an entry is not an exact origin as browsers send it, or nil when it is.
    static func problem(with entry: String) -> String? {
        if entry == "*" { return "is not allowed: list the exact origins (e.g. http://localhost:5173)" }
        if entry == "null" { return "is not allowed: it is the origin of every sandboxed frame and local file" }
        guard let separator = entry.range(of: "://") else {
            return "is not an origin: write scheme://host[:port], e.g. https://app.example.com"
        }
        let scheme = entry[..<separator.lowerBound]
        let authority = entry[separator.upperBound...]
        guard let first = scheme.unicodeScalars.first, ("a"..."z").contains(first),
              scheme.unicodeScalars.allSatisfy({ ("a"..."z").contains($0) || ("0"..."9").contains($0) || "+-.".unicodeScalars.contains($0) })
        else { return "has an invalid scheme (lowercase letters, digits, + - . only)" }
        if authority.contains("/") || authority.contains("?") || authority.contains("#") {
            return "has a path: an origin is scheme://host[:port] without a trailing slash"
        }
        if authority.contains("@") { return "has user information: an origin is scheme://host[:port]" }
        var host = Substring(authority)
        var port: Substring?
        if host.hasPrefix("[") {
            // An IPv6 literal: [hex:digits] then an optional :port.
            guard let close = host.firstIndex(of: "]") else { return "has an unclosed IPv6 address" }
            let inside = host[host.index(after: host.startIndex)..<close]
            guard !inside.isEmpty, inside.unicodeScalars.allSatisfy({ ("0"..."9").contains($0) || ("a"..."f").contains($0) || $0 == ":" || $0 == "." })
            else { return "has an invalid IPv6 address (lowercase hex digits)" }
            let rest = host[host.index(after: close)...]
            if !rest.isEmpty {
                guard rest.hasPrefix(":") else { return "has characters after its IPv6 address" }
                port = rest.dropFirst()
            }
            host = host[...close]
        } else {
            if let colon = host.firstIndex(of: ":") {
                port = host[host.index(after: colon)...]
                host = host[..<colon]
            }
            guard !host.isEmpty else { return "has no host" }
            guard host.unicodeScalars.allSatisfy({ ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "." || $0 == "-" })
            else { return "has an invalid host: browsers send it in lowercase letters, digits, . and - (punycode for other names)" }
        }
        if let port {
            guard let n = Int(port), (1...65535).contains(n), String(n) == port else {
                return "has an invalid port (1-65535, no leading zeros)"
            }
            if (scheme == "http" && n == 80) || (scheme == "https" && n == 443) {
                return "names the scheme's default port: browsers leave it out, write it without :\(n)"
            }
        }
        return nil
    }
}
