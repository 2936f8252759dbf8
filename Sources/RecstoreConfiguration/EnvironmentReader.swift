import Foundation

/// The environment (process over `.env`) and the ways a setting is read from it.
/// Every group of settings reads through one of these, so a bad value is refused
/// with the same words whichever group it belongs to.
public struct EnvironmentReader: Sendable {
    public let environment: [String: String]

    public init(_ environment: [String: String]) { self.environment = environment }

    /// The first of `names` set to something other than blanks, with its name
    /// (the first name wins: `AWS_S3_BUCKET_NAME` over `STUDY_BUDDY_BUCKET_NAME`).
    public func value(_ names: String...) -> (name: String, value: String)? {
        for n in names {
            if let v = environment[n]?.trimmingCharacters(in: .whitespaces), !v.isEmpty { return (n, v) }
        }
        return nil
    }

    /// An integer in `range`, or nil when the variable is unset or blank.
    public func integer(_ name: String, _ range: ClosedRange<Int64>) throws(ConfigurationError) -> Int64? {
        guard let (_, v) = value(name) else { return nil }
        guard let n = Int64(v), range.contains(n) else {
            throw ConfigurationError(name, "must be an integer in \(range.lowerBound)...\(range.upperBound), got \"\(v)\"")
        }
        return n
    }

    /// `integer` for settings kept as `Int`.
    public func int(_ name: String, _ range: ClosedRange<Int64>) throws(ConfigurationError) -> Int? {
        try integer(name, range).map { Int($0) }
    }

    /// true/false, 1/0, yes/no, on/off in any case.
    public func boolean(_ name: String) throws(ConfigurationError) -> Bool? {
        guard let (_, v) = value(name) else { return nil }
        switch v.lowercased() {
        case "1", "true", "yes", "on": return true
        case "0", "false", "no", "off": return false
        default: throw ConfigurationError(name, "must be true or false, got \"\(v)\"")
        }
    }

    /// A number of seconds above 0 and at most `maximum` (fractions allowed).
    public func seconds(_ name: String, maximum: Double) throws(ConfigurationError) -> Double? {
        guard let (_, v) = value(name) else { return nil }
        guard let n = Double(v), n.isFinite, n > 0, n <= maximum else {
            throw ConfigurationError(name, "must be a number of seconds above 0, got \"\(v)\"")
        }
        return n
    }

    /// Comma-separated entries, blanks around them and empty entries dropped.
    public func list(_ name: String) -> [String]? {
        guard let (_, v) = value(name) else { return nil }
        return v.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }
}
