import Storage

/// A request's `Range` header against an object of known size (RFC 9110 §14).
/// Only single byte ranges are served partially; several ranges get the whole
/// object (allowed), and a header that does not parse is ignored (required).
enum RangeHeader: Equatable {
    case whole
    case partial(ByteRange)
    case unsatisfiable

    static func resolve(_ header: String?, size: Int64) -> RangeHeader {
        guard let header else { return .whole }
        let trimmed = header.trimmingSpaces
        guard trimmed.utf8.count > 6, trimmed.prefix(6).lowercased() == "bytes=" else { return .whole }
        let spec = trimmed.dropFirst(6)
        guard !spec.contains(",") else { return .whole }
        let parts = spec.split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.count == 2 else { return .whole }
        let firstText = String(parts[0]).trimmingSpaces, lastText = String(parts[1]).trimmingSpaces
        if firstText.isEmpty {
            // `-n`: the last n bytes.
            guard let n = digits(lastText) else { return .whole }
            guard n > 0, size > 0 else { return .unsatisfiable }
            return .partial(ByteRange(first: max(0, size - n), last: size - 1))
        }
        guard let first = digits(firstText) else { return .whole }
        var last = size - 1
        if !lastText.isEmpty {
            guard let l = digits(lastText), l >= first else { return .whole }
            last = min(l, size - 1)
        }
        guard first < size else { return .unsatisfiable }
        return .partial(ByteRange(first: first, last: last))
    }

    /// A non-negative decimal; absurdly long numbers saturate rather than fail.
    private static func digits(_ s: String) -> Int64? {
        guard !s.isEmpty, s.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return nil }
        return Int64(s) ?? Int64.max
    }
}

extension String {
    var trimmingSpaces: String {
        var s = Substring(self)
        while s.first == " " || s.first == "\t" { s.removeFirst() }
        while s.last == " " || s.last == "\t" { s.removeLast() }
        return String(s)
    }
}
