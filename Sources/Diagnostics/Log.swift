#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// One JSON object per line on stderr. A single `write(2)` per line keeps lines
/// from different threads and worker processes from interleaving.
public enum Log {
    public enum Level: String, Sendable { case debug, info, warning, error }

    /// Set once at start-up (`LOG_LEVEL=debug` shows debug lines).
    nonisolated(unsafe) public static var minimumLevel: Level = .info

    public static func debug(_ message: String, _ fields: KeyValuePairs<String, Any> = [:]) { emit(.debug, message, fields) }
    public static func info(_ message: String, _ fields: KeyValuePairs<String, Any> = [:]) { emit(.info, message, fields) }
    public static func warning(_ message: String, _ fields: KeyValuePairs<String, Any> = [:]) { emit(.warning, message, fields) }
    public static func error(_ message: String, _ fields: KeyValuePairs<String, Any> = [:]) { emit(.error, message, fields) }

    static func rank(_ level: Level) -> Int {
        switch level { case .debug: 0; case .info: 1; case .warning: 2; case .error: 3 }
    }

    public static func emit(_ level: Level, _ message: String, _ fields: KeyValuePairs<String, Any>) {
        guard rank(level) >= rank(minimumLevel) else { return }
        emit(level, message, fields: fields.map { ($0.key, $0.value) })
    }

    /// Fields decided at run time (e.g. the request's counters).
    public static func emit(_ level: Level, _ message: String, fields: [(String, Any)]) {
        guard rank(level) >= rank(minimumLevel) else { return }
        var line = "{\"time\":\"\(Timestamp.iso8601Millis(Date()))\",\"level\":\"\(level.rawValue)\",\"pid\":\(getpid()),\"msg\":"
        JSONText.appendString(message, to: &line)
        for (key, value) in fields {
            line += ","
            JSONText.appendString(key, to: &line)
            line += ":"
            switch value {
            case let v as Int: line += String(v)
            case let v as Int64: line += String(v)
            case let v as UInt64: line += String(v)
            case let v as Double: line += v.isFinite ? String(v) : "null"
            case let v as Bool: line += v ? "true" : "false"
            case let v as String: JSONText.appendString(v, to: &line)
            default: JSONText.appendString(String(describing: value), to: &line)
            }
        }
        line += "}\n"
        var bytes = Array(line.utf8)
        bytes.withUnsafeMutableBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let n = write(2, buffer.baseAddress! + offset, buffer.count - offset)
                if n <= 0 { if n < 0 && errno == EINTR { continue }; return }
                offset += n
            }
        }
    }
}

/// Minimal JSON string escaping for log lines (no Foundation encoder per line).
public enum JSONText {
    public static func appendString(_ s: String, to out: inout String) {
        out += "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case let c where c.value < 0x20:
                out += String(format: "\\u%04x", c.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        out += "\""
    }
}
