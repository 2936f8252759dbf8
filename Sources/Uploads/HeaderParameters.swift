/// A header value of the shape `main; name=value; name="quoted value"`, as in
/// Content-Type and Content-Disposition.
struct HeaderParameters {
    /// The part before the first `;`, trimmed and lowercased (`multipart/form-data`, `form-data`).
    let value: String
    /// In order of appearance; names lowercased.
    let parameters: [(name: String, value: String)]

    init(_ header: String) {
        let bytes = Array(header.utf8)
        var i = 0
        var main: [UInt8] = []
        while i < bytes.count && bytes[i] != Self.semicolon { main.append(bytes[i]); i += 1 }
        value = Self.trimmed(main).lowercased()

        var parameters: [(name: String, value: String)] = []
        while i < bytes.count {
            i += 1 // the `;`
            var name: [UInt8] = []
            while i < bytes.count && bytes[i] != Self.semicolon && bytes[i] != Self.equals { name.append(bytes[i]); i += 1 }
            guard i < bytes.count, bytes[i] == Self.equals else { continue } // a bare word: no value, skipped
            i += 1
            while i < bytes.count && Self.isSpace(bytes[i]) { i += 1 }
            let raw: [UInt8]
            if i < bytes.count && bytes[i] == Self.quote {
                (raw, i) = Self.quotedString(bytes, from: i + 1)
                while i < bytes.count && bytes[i] != Self.semicolon { i += 1 } // stray text after the quotes
            } else {
                var token: [UInt8] = []
                while i < bytes.count && bytes[i] != Self.semicolon { token.append(bytes[i]); i += 1 }
                raw = Array(Self.trimmed(token).utf8)
            }
            parameters.append((Self.trimmed(name).lowercased(), String(decoding: raw, as: UTF8.self)))
        }
        self.parameters = parameters
    }

    /// The first parameter of that name (case-insensitive).
    func parameter(_ name: String) -> String? {
        parameters.first { $0.name == name.lowercased() }?.value
    }

    /// Reads a quoted string whose opening quote is just before `start`; returns its
    /// content and the index after the closing quote.
    ///
    /// Clients disagree on escaping: curl sends `\"` and `\\`, browsers send `"` as
    /// `%22` and never escape a backslash, and some clients put bare quotes inside
    /// (`"my "best" take.wav"`). So `\` escapes only `"` and `\`, and a quote closes
    /// the string only when what follows it is the end or the next `;`.
    static func quotedString(_ bytes: [UInt8], from start: Int) -> ([UInt8], Int) {
        var out: [UInt8] = []
        var i = start
        while i < bytes.count {
            let b = bytes[i]
            if b == backslash, i + 1 < bytes.count, bytes[i + 1] == quote || bytes[i + 1] == backslash {
                out.append(bytes[i + 1])
                i += 2
                continue
            }
            if b == quote {
                var j = i + 1
                while j < bytes.count && isSpace(bytes[j]) { j += 1 }
                if j == bytes.count || bytes[j] == semicolon { return (out, i + 1) }
            }
            out.append(b)
            i += 1
        }
        return (out, i) // unterminated: everything to the end
    }

    static func trimmed(_ bytes: [UInt8]) -> String {
        var lo = 0, hi = bytes.count
        while lo < hi && isSpace(bytes[lo]) { lo += 1 }
        while hi > lo && isSpace(bytes[hi - 1]) { hi -= 1 }
        return String(decoding: bytes[lo..<hi], as: UTF8.self)
    }

    static func isSpace(_ b: UInt8) -> Bool { b == 0x20 || b == 0x09 }
    static let semicolon = UInt8(ascii: ";"), equals = UInt8(ascii: "="), quote = UInt8(ascii: "\"")
    static let backslash = UInt8(ascii: "\\")
}
