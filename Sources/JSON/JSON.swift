/// A JSON value that keeps what the client sent: object key order, and numbers as
/// their original text (so `"duration": 61.50` or a 20-digit id round-trips exactly).
public enum JSON: Equatable, Sendable {
    case null
    case bool(Bool)
    /// The number's text, already validated as RFC 8259 number syntax.
    case number(String)
    case string(String)
    case array([JSON])
    case object(JSONObject)

    public static func int(_ v: Int) -> JSON { .number(String(v)) }

    public static func double(_ v: Double) -> JSON {
        guard v.isFinite else { return .null }
        if v == v.rounded(), abs(v) < 1e15 { return .number(String(Int64(v)) + ".0") }
        return .number(String(v))
    }

    public var stringValue: String? { if case .string(let s) = self { return s }; return nil }
    public var objectValue: JSONObject? { if case .object(let o) = self { return o }; return nil }
    public var arrayValue: [JSON]? { if case .array(let a) = self { return a }; return nil }
    public var boolValue: Bool? { if case .bool(let b) = self { return b }; return nil }
    public var doubleValue: Double? { if case .number(let n) = self { return Double(n) }; return nil }
    public var isNull: Bool { self == .null }

    public subscript(key: String) -> JSON? { objectValue?[key] }
}

/// An ordered JSON object. Duplicate keys in input: the last one wins, in the
/// position of the first (what Python's `json` does).
public struct JSONObject: Equatable, Sendable, Sequence {
    public private(set) var keys: [String] = []
    private var values: [String: JSON] = [:]

    public init() {}
    public init(_ pairs: [(String, JSON)]) { for (k, v) in pairs { self[k] = v } }

    public var count: Int { keys.count }
    public var isEmpty: Bool { keys.isEmpty }

    public subscript(key: String) -> JSON? {
        get { values[key] }
        set {
            if let newValue {
                if values.updateValue(newValue, forKey: key) == nil { keys.append(key) }
            } else if values.removeValue(forKey: key) != nil {
                keys.removeAll { $0 == key }
            }
        }
    }

    public func makeIterator() -> AnyIterator<(key: String, value: JSON)> {
        var i = 0
        return AnyIterator {
            guard i < keys.count else { return nil }
            defer { i += 1 }
            return (keys[i], values[keys[i]]!)
        }
    }

    public static func == (a: JSONObject, b: JSONObject) -> Bool { a.values == b.values }
}
