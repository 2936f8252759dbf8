import Foundation

/// The INI dialect of `~/.aws/credentials` and `~/.aws/config`: `[section]` headers,
/// `key = value` lines, whole-line `#`/`;` comments, and indented lines after a key
/// (nested settings such as `s3 =` blocks) that no credential lives in.
struct SharedConfigFile {
    /// Section name as written between the brackets (trimmed) → its keys (lowercased,
    /// as botocore's parser does) → values. A repeated section adds to the first.
    private(set) var sections: [String: [String: String]] = [:]

    init(text: String) {
        var section: String?
        // Indentation of the last key line: a line indented deeper continues it.
        var keyIndent: Int?
        for rawLine in text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" || $0 == "\r" }) {
            let line = rawLine.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") || line.hasPrefix(";") { continue }
            if line.hasPrefix("[") {
                guard line.hasSuffix("]") else { section = nil; continue }
                let name = line.dropFirst().dropLast().trimmingCharacters(in: .whitespaces)
                section = name
                keyIndent = nil
                if sections[name] == nil { sections[name] = [:] }
                continue
            }
            guard let current = section else { continue }
            let indent = rawLine.prefix(while: { $0 == " " || $0 == "\t" }).count
            if let keyIndent, indent > keyIndent { continue }
            guard let eq = line.firstIndex(of: "=") else { continue }
            let key = line[..<eq].trimmingCharacters(in: .whitespaces).lowercased()
            let value = line[line.index(after: eq)...].trimmingCharacters(in: .whitespaces)
            guard !key.isEmpty else { continue }
            sections[current, default: [:]][key] = value
            keyIndent = indent
        }
    }

    /// Nil when the file does not exist; throws when it exists but cannot be read.
    static func load(path: String) throws(CredentialsError) -> SharedConfigFile? {
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw CredentialsError("cannot read \(path)")
        }
        return SharedConfigFile(text: String(decoding: data, as: UTF8.self))
    }

    /// A profile of the config file: `[profile name]`, or `[default]` for the default.
    func configProfile(_ name: String) -> [String: String]? {
        var found: [String: String]?
        for (section, values) in sections {
            let words = section.split(whereSeparator: { $0 == " " || $0 == "\t" })
            let matches = (words.count == 2 && words[0] == "profile" && words[1] == name)
                || (name == "default" && section == "default")
            if matches { found = (found ?? [:]).merging(values) { _, new in new } }
        }
        return found
    }

    /// A profile of the credentials file: `[name]`, never with a `profile` prefix.
    func credentialsProfile(_ name: String) -> [String: String]? { sections[name] }
}
