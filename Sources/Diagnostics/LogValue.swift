import JSON

/// One field's value on a log line, typed where it is made, so writing the line needs
/// no dynamic cast. Anything else is written as its description, a JSON string.
public enum LogValue: Sendable, Equatable {
    case string(String)
    case int(Int)
    case double(Double)
    case bool(Bool)

    /// The value of an untyped field (`Log.info("…", ["key": value])`): the common
    /// types first, as every failed `as` is a dynamic cast.
    public init(_ value: Any) {
        switch value {
        case let v as String: self = .string(v)
        case let v as Int: self = .int(v)
        case let v as Double: self = .double(v)
        case let v as Bool: self = .bool(v)
        case let v as Int64: self = .int(Int(v))
        case let v as UInt64: self = v <= UInt64(Int.max) ? .int(Int(v)) : .string(String(v))
        case let v as LogValue: self = v
        default: self = .string(String(describing: value))
        }
    }

    /// Appends the value as JSON: a string, a number (a non-finite double is null), a boolean.
    func write(to line: inout [UInt8]) {
        switch self {
        case .string(let v): JSON.writeString(v, to: &line)
        case .int(let v): Self.appendDecimal(v, to: &line)
        case .double(let v): line.append(contentsOf: (v.isFinite ? String(v) : "null").utf8)
        case .bool(let v): line.append(contentsOf: (v ? "true" : "false").utf8)
        }
    }

    /// Digits straight into the line: no String made per number.
    static func appendDecimal(_ value: Int, to line: inout [UInt8]) {
        if value < 0 { line.append(UInt8(ascii: "-")) }
        var magnitude = value.magnitude
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)  // room for 20 digits, no allocation
        var count = 0
        withUnsafeMutableBytes(of: &digits) { buffer in
            repeat {
                buffer[count] = UInt8(ascii: "0") + UInt8(magnitude % 10)
                magnitude /= 10
                count += 1
            } while magnitude > 0
            for i in stride(from: count - 1, through: 0, by: -1) { line.append(buffer[i]) }
        }
    }
}
