import Foundation

/// Reads a `.env` file: `KEY=VALUE` lines, `#` comments, optional `export `,
/// values optionally in single or double quotes. Variables already in the process
/// environment win over the file (as python-dotenv does).
public enum DotEnv {
    public static func parse(_ text: String) -> [String: String] {
        var result: [String: String] = [:]
        for rawLine in text.split(whereSeparator: { $0 == "\n" || $0 == "\r\n" }) {
            var line = rawLine.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") { continue }
            if line.hasPrefix("export ") { line = String(line.dropFirst(7)).trimmingCharacters(in: .whitespaces) }
            guard let eq = line.firstIndex(of: "=") else { continue }
            let key = line[..<eq].trimmingCharacters(in: .whitespaces)
            var value = line[line.index(after: eq)...].trimmingCharacters(in: .whitespaces)
            if value.count >= 2, let q = value.first, q == "\"" || q == "'", value.last == q {
                value = String(value.dropFirst().dropLast())
                if q == "\"" { value = value.replacingOccurrences(of: "\\n", with: "\n").replacingOccurrences(of: "\\\"", with: "\"") }
            } else if let hash = value.range(of: " #") {
                value = value[..<hash.lowerBound].trimmingCharacters(in: .whitespaces)
            }
            guard !key.isEmpty else { continue }
            result[key] = value
        }
        return result
    }

    /// The variables of an environment file named on the command line (`serve
    /// --env-file`); unlike `.env`, a missing or unreadable file is an error.
    public static func file(_ path: String) throws(ConfigurationError) -> [String: String] {
        do {
            return parse(try String(contentsOfFile: path, encoding: .utf8))
        } catch {
            throw ConfigurationError("--env-file", "cannot read \(path): \(error.localizedDescription)")
        }
    }

    /// The process environment over the `.env` file in `directory` (if any).
    public static func environment(directory: String = FileManager.default.currentDirectoryPath,
                                   process: [String: String] = ProcessInfo.processInfo.environment) -> [String: String] {
        var env: [String: String] = [:]
        if let text = try? String(contentsOfFile: directory + "/.env", encoding: .utf8) {
            env = parse(text)
        }
        env.merge(process) { _, fromProcess in fromProcess }
        return env
    }
}
