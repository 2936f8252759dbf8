/// Hexadecimal digits, both ways: digests, request ids and random names are written
/// in lowercase hex; percent-escapes and SigV4's URI encoding use uppercase; the
/// percent decoders read either case.
public enum Hex {
    public static let lowercaseDigits: [UInt8] = Array("0123456789abcdef".utf8)
    public static let uppercaseDigits: [UInt8] = Array("0123456789ABCDEF".utf8)

    /// Two digits per byte, lowercase.
    public static func encode<Bytes: Collection<UInt8>>(_ bytes: Bytes) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count * 2)
        for b in bytes { append(b, to: &out) }
        return String(decoding: out, as: UTF8.self)
    }

    /// A fixed-width integer with all its digits, leading zeros kept: 16 digits for a
    /// `UInt64`, 8 for a `UInt32`.
    public static func encode<Value: FixedWidthInteger & UnsignedInteger>(padded value: Value) -> String {
        let s = String(value, radix: 16)
        return String(repeating: "0", count: Value.bitWidth / 4 - s.count) + s
    }

    /// Appends the two digits of `byte`.
    @inline(__always)
    public static func append(_ byte: UInt8, to out: inout [UInt8], uppercase: Bool = false) {
        let digits = uppercase ? uppercaseDigits : lowercaseDigits
        out.append(digits[Int(byte >> 4)])
        out.append(digits[Int(byte & 0xF)])
    }

    /// The value of one ASCII hex digit (either case); nil for anything else.
    @inline(__always)
    public static func value(_ digit: UInt8) -> UInt8? {
        switch digit {
        case 0x30...0x39: digit - 0x30
        case 0x41...0x46: digit - 0x41 + 10
        case 0x61...0x66: digit - 0x61 + 10
        default: nil
        }
    }
}
