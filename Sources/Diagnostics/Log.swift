#if canImport(Glibc)
import Glibc
#endif
import Foundation
import JSON
import POSIX

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

    /// This process's id, formatted once (a worker never forks).
    private static let pid = String(getpid())

    /// Fields decided at run time, of any type (slow paths: the slow log's breakdown).
    public static func emit(_ level: Level, _ message: String, fields: [(String, Any)]) {
        guard rank(level) >= rank(minimumLevel) else { return }
        emit(level, message, values: fields.map { ($0.0, LogValue($0.1)) })
    }

    /// Fields already typed: the per-request access line goes this way, without a
    /// dynamic cast per field (5,800 instructions of a settings GET, bench/results.md).
    public static func emit(_ level: Level, _ message: String, values fields: [(String, LogValue)]) {
        guard rank(level) >= rank(minimumLevel) else { return }
        // Built as bytes: one line per request, so string appends add up.
        var line: [UInt8] = []
        line.reserveCapacity(256)
        line.append(contentsOf: "{\"time\":\"".utf8)
        line.append(contentsOf: Timestamp.iso8601Millis(Date()).utf8)
        line.append(contentsOf: "\",\"level\":\"".utf8)
        line.append(contentsOf: level.rawValue.utf8)
        line.append(contentsOf: "\",\"pid\":".utf8)
        line.append(contentsOf: pid.utf8)
        line.append(contentsOf: ",\"msg\":".utf8)
        JSON.writeString(message, to: &line)
        // The request this thread serves, unless the caller named it already.
        if let context = RequestContext.current, !fields.contains(where: { $0.0 == "request_id" }) {
            line.append(contentsOf: ",\"request_id\":".utf8)
            JSON.writeString(context.requestID, to: &line)
        }
        for (key, value) in fields {
            line.append(UInt8(ascii: ","))
            JSON.writeString(key, to: &line)
            line.append(UInt8(ascii: ":"))
            value.write(to: &line)
        }
        line.append(contentsOf: "}\n".utf8)
        // A log line that cannot be written has nowhere to be reported.
        line.withUnsafeBytes { buffer in try? FileIO.writeAll(2, buffer, path: "standard error") }
    }
}
