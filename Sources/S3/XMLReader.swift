/// An element of an S3 XML response: enough structure for S3's answers (nested
/// elements with text), nothing more. Namespaces are dropped, attributes ignored.
struct XMLNode: Sendable {
    var name: String
    var children: [XMLNode] = []
    var text: String = ""

    func child(_ name: String) -> XMLNode? { children.first { $0.name == name } }
    func all(_ name: String) -> [XMLNode] { children.filter { $0.name == name } }
    /// The text of the first child called `name`.
    func value(_ name: String) -> String? { child(name)?.text }
}

/// Parses the XML S3 sends (a declaration, elements, text, entity and character
/// references, CDATA, comments). Returns nil for anything malformed.
enum XMLReader {
    static func parse(_ bytes: [UInt8]) -> XMLNode? {
        var parser = Parser(bytes: bytes)
        return parser.document()
    }

    private struct Parser {
        let bytes: [UInt8]
        var i = 0
        var stack: [XMLNode] = []
        var root: XMLNode?

        init(bytes: [UInt8]) { self.bytes = bytes }

        mutating func document() -> XMLNode? {
            var text: [UInt8] = []
            while i < bytes.count {
                if bytes[i] != 0x3C {           // text
                    if stack.isEmpty {
                        guard isSpace(bytes[i]) else { return nil }
                    } else {
                        text.append(bytes[i])
                    }
                    i += 1
                    continue
                }
                if starts("<?") { guard skip(past: "?>") else { return nil }; continue }
                if starts("<!--") { guard skip(past: "-->") else { return nil }; continue }
                if starts("<![CDATA[") {
                    i += 9
                    guard let end = find("]]>") else { return nil }
                    // Escape the raw text so the decoding below leaves it as it was.
                    for b in bytes[i..<end] {
                        if b == 0x26 { text += Array("&amp;".utf8) } else { text.append(b) }
                    }
                    i = end + 3
                    continue
                }
                if starts("<!") { guard skip(past: ">") else { return nil }; continue }
                if !stack.isEmpty, !text.isEmpty {
                    guard let decoded = decode(text) else { return nil }
                    stack[stack.count - 1].text += decoded
                    text.removeAll()
                }
                if starts("</") {
                    i += 2
                    guard let name = readName(), i < bytes.count else { return nil }
                    while i < bytes.count, isSpace(bytes[i]) { i += 1 }
                    guard i < bytes.count, bytes[i] == 0x3E, let open = stack.popLast(), open.name == name else { return nil }
                    i += 1
                    close(open)
                    continue
                }
                i += 1
                guard root == nil, let name = readName() else { return nil }
                // Attributes are skipped, quoted values included.
                var selfClosing = false
                while true {
                    guard i < bytes.count else { return nil }
                    let b = bytes[i]
                    if b == 0x22 || b == 0x27 {
                        i += 1
                        while i < bytes.count, bytes[i] != b { i += 1 }
                        i += 1
                    } else if b == 0x3E {
                        i += 1; break
                    } else if b == 0x2F, i + 1 < bytes.count, bytes[i + 1] == 0x3E {
                        i += 2; selfClosing = true; break
                    } else {
                        i += 1
                    }
                }
                let node = XMLNode(name: name)
                if selfClosing { close(node) } else { stack.append(node) }
            }
            return stack.isEmpty ? root : nil
        }

        mutating func close(_ node: XMLNode) {
            if stack.isEmpty { root = node } else { stack[stack.count - 1].children.append(node) }
        }

        mutating func readName() -> String? {
            let start = i
            while i < bytes.count, !isSpace(bytes[i]), bytes[i] != 0x3E, bytes[i] != 0x2F { i += 1 }
            guard i > start, let name = String(validating: bytes[start..<i], as: UTF8.self) else { return nil }
            if let colon = name.lastIndex(of: ":") { return String(name[name.index(after: colon)...]) }
            return name
        }

        func starts(_ s: String) -> Bool {
            let p = Array(s.utf8)
            return i + p.count <= bytes.count && Array(bytes[i..<i + p.count]) == p
        }

        func find(_ s: String) -> Int? {
            let p = Array(s.utf8)
            var j = i
            while j + p.count <= bytes.count {
                if bytes[j] == p[0], Array(bytes[j..<j + p.count]) == p { return j }
                j += 1
            }
            return nil
        }

        mutating func skip(past s: String) -> Bool {
            guard let end = find(s) else { return false }
            i = end + s.utf8.count
            return true
        }

        func isSpace(_ b: UInt8) -> Bool { b == 0x20 || b == 0x0A || b == 0x0D || b == 0x09 }

        func decode(_ raw: [UInt8]) -> String? {
            guard let s = String(validating: raw, as: UTF8.self) else { return nil }
            guard s.contains("&") else { return s }
            var out = ""
            var rest = Substring(s)
            while let amp = rest.firstIndex(of: "&") {
                out += rest[..<amp]
                guard let semi = rest[amp...].firstIndex(of: ";") else { return nil }
                let entity = rest[rest.index(after: amp)..<semi]
                switch entity {
                case "amp": out += "&"
                case "lt": out += "<"
                case "gt": out += ">"
                case "quot": out += "\""
                case "apos": out += "'"
                default:
                    guard entity.hasPrefix("#") else { return nil }
                    let digits = entity.dropFirst()
                    let value = digits.hasPrefix("x") ? UInt32(digits.dropFirst(), radix: 16) : UInt32(digits)
                    guard let value, let scalar = Unicode.Scalar(value) else { return nil }
                    out.unicodeScalars.append(scalar)
                }
                rest = rest[rest.index(after: semi)...]
            }
            return out + rest
        }
    }

    /// Escapes text for an element's content.
    static func escape(_ s: String) -> String {
        var out = ""
        for c in s {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&apos;"
            default: out.append(c)
            }
        }
        return out
    }
}
