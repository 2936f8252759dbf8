#if canImport(Glibc)
import Glibc
#endif

/// A failed system call: what was attempted, on what, and errno. Its description
/// is the one wording every module logs and reports: `cannot write /a/b: No space left on device`.
public struct SystemError: Error, CustomStringConvertible, Sendable {
    /// E.g. "cannot write".
    public let operation: String
    /// The file, directory or other object the call was about.
    public let path: String
    public let code: Int32

    public init(_ operation: String, _ path: String, code: Int32 = errno) {
        self.operation = operation
        self.path = path
        self.code = code
    }

    public var description: String { "\(operation) \(path): \(Self.text(code))" }

    /// strerror(3)'s text for `code` (errno by default).
    public static func text(_ code: Int32 = errno) -> String { String(cString: strerror(code)) }
}
