import Foundation
import RecstoreConfiguration
import Diagnostics

/// `LOG_LEVEL` (debug, info, warning, error; default info), checked like every
/// other variable: a bad value stops start-up naming it.
enum LogLevel {
    static func apply(from environment: [String: String]) throws(ConfigurationError) {
        guard let raw = environment["LOG_LEVEL"]?.trimmingCharacters(in: .whitespaces), !raw.isEmpty else { return }
        guard let level = Log.Level(rawValue: raw.lowercased()) else {
            throw ConfigurationError("LOG_LEVEL", "must be debug, info, warning or error, got \"\(raw)\"")
        }
        Log.minimumLevel = level
    }
}
