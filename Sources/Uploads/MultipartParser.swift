#if canImport(Glibc)
import Glibc
#endif
import HTTP

/// What the parser reports, in order: per part one `partBegin`, any number of
/// `partData`, one `partEnd`.
public enum MultipartEvent {
    case partBegin(PartHeaders)
    /// A piece of the part's body; valid only during the callback.
    case partData(UnsafeRawBufferPointer)
    case partEnd
}

/// A push parser for `multipart/form-data`: feed it the body in pieces of any size,
/// it reports parts as they arrive. It holds at most one header line and the part's
/// header fields, never body bytes, so memory does not grow with the upload.
///
/// Framing (RFC 2046 / 7578): the delimiter is CRLF `--boundary`; the first one may
/// start the body. After a delimiter come `--` (the end: the epilogue is ignored) or
/// optional spaces and CRLF, then header lines, an empty line and the part's body.
/// Anything else is a 400; a crossed limit is a 413.
public struct MultipartParser {
    private enum State: Equatable {
        case preamble          // searching the delimiter, discarding
        case body              // searching the delimiter, reporting data
        case afterDelimiter    // just after `--boundary`
        case closing           // `--boundary-`
        case padding           // spaces after the boundary
        case delimiterLF       // CR after the boundary
        case headerLine
        case headerLF          // CR in a header line
        case epilogue
    }

    /// CRLF "--" boundary. Holds CR only at index 0 (boundaries never contain CR),
    /// which keeps the search simple: a partial match never hides another start.
    private let delimiter: [UInt8]
    private let limits: MultipartLimits
    private var state = State.preamble
    /// Delimiter bytes matched at the end of earlier input, not yet reported. The
    /// body starts as if after a CRLF, so a first delimiter on line one is found.
    private var matched = 2
    private var line: [UInt8] = []
    private var headers = Headers()
    private var parts = 0

    public init(boundary: [UInt8], limits: MultipartLimits = MultipartLimits()) {
        precondition(MultipartContentType.isValid(boundary), "invalid multipart boundary")
        delimiter = Array("\r\n--".utf8) + boundary
        self.limits = limits
    }

    /// True once the closing delimiter was seen.
    public var isComplete: Bool { state == .epilogue }

    public mutating func feed(_ bytes: UnsafeRawBufferPointer, _ emit: (MultipartEvent) throws -> Void) throws {
        var i = 0
        while i < bytes.count {
            switch state {
            case .preamble, .body:
                i = try scan(bytes, from: i, emit)
            case .epilogue:
                return
            default:
                try step(bytes[i], emit)
                i += 1
            }
        }
    }

    /// Call at the end of the body: a body that stops before its closing delimiter is a 400.
    public func finish() throws {
        guard state == .epilogue else {
            throw HTTPError(.badRequest, "multipart body ended before its closing boundary")
        }
    }

    /// Searches the delimiter from `start`; reports the data before it (in the body) and
    /// returns where to go on: after the delimiter, or the end of `bytes`.
    private mutating func scan(_ bytes: UnsafeRawBufferPointer, from start: Int,
                               _ emit: (MultipartEvent) throws -> Void) throws -> Int {
        let reporting = state == .body
        var i = start
        if matched > 0 {
            // A delimiter began in earlier input: does this input complete it?
            let k = min(delimiter.count - matched, bytes.count - i)
            var j = 0
            while j < k && bytes[i + j] == delimiter[matched + j] { j += 1 }
            if j == k {
                matched += k
                guard matched == delimiter.count else { return bytes.count }
                matched = 0
                try delimiterFound(emit)
                return i + k
            }
            // It was data after all. Its bytes past the first are not CR, so no
            // delimiter starts among them: the search goes on from `start`.
            if reporting {
                try delimiter.withUnsafeBytes { try emit(.partData(UnsafeRawBufferPointer(rebasing: $0[0..<matched]))) }
            }
            matched = 0
        }
        let dataStart = i
        let base = bytes.baseAddress!
        while i < bytes.count {
            guard let found = memchr(base + i, 0x0D, bytes.count - i) else { break }
            let cr = base.distance(to: UnsafeRawPointer(found))
            let k = min(delimiter.count, bytes.count - cr)
            var j = 0
            while j < k && bytes[cr + j] == delimiter[j] { j += 1 }
            guard j == k else { i = cr + 1; continue }
            if reporting && cr > dataStart {
                try emit(.partData(UnsafeRawBufferPointer(rebasing: bytes[dataStart..<cr])))
            }
            guard k == delimiter.count else {
                matched = k // the input ends inside what may be a delimiter
                return bytes.count
            }
            try delimiterFound(emit)
            return cr + k
        }
        if reporting && bytes.count > dataStart {
            try emit(.partData(UnsafeRawBufferPointer(rebasing: bytes[dataStart...])))
        }
        return bytes.count
    }

    private mutating func delimiterFound(_ emit: (MultipartEvent) throws -> Void) throws {
        if state == .body { try emit(.partEnd) }
        state = .afterDelimiter
    }

    private static let cr: UInt8 = 0x0D, lf: UInt8 = 0x0A, dash = UInt8(ascii: "-")

    private mutating func step(_ b: UInt8, _ emit: (MultipartEvent) throws -> Void) throws {
        switch state {
        case .afterDelimiter:
            switch b {
            case Self.dash: state = .closing
            case 0x20, 0x09: state = .padding
            case Self.cr: state = .delimiterLF
            default: throw Self.framing("unexpected byte after a multipart boundary")
            }
        case .closing:
            guard b == Self.dash else { throw Self.framing("unexpected byte after a multipart boundary") }
            state = .epilogue
        case .padding:
            switch b {
            case 0x20, 0x09: break
            case Self.cr: state = .delimiterLF
            default: throw Self.framing("unexpected byte after a multipart boundary")
            }
        case .delimiterLF:
            guard b == Self.lf else { throw Self.framing("multipart boundary line not ended by CRLF") }
            parts += 1
            guard parts <= limits.maxParts else {
                throw HTTPError(.payloadTooLarge, "more than \(limits.maxParts) multipart parts")
            }
            line.removeAll(keepingCapacity: true)
            headers = Headers()
            state = .headerLine
        case .headerLine:
            if b == Self.cr {
                state = .headerLF
                return
            }
            guard b >= 0x20 && b != 0x7F || b == 0x09 else { throw Self.framing("control character in a multipart part header") }
            guard line.count < limits.maxHeaderLineBytes else {
                throw HTTPError(.payloadTooLarge, "multipart part header line longer than \(limits.maxHeaderLineBytes) bytes")
            }
            line.append(b)
        case .headerLF:
            guard b == Self.lf else { throw Self.framing("multipart part header line not ended by CRLF") }
            state = .headerLine
            if line.isEmpty {
                let part = try PartHeaders(headers)
                headers = Headers()
                state = .body
                try emit(.partBegin(part))
                return
            }
            guard headers.fields.count < limits.maxHeadersPerPart else {
                throw HTTPError(.payloadTooLarge, "more than \(limits.maxHeadersPerPart) header lines in a multipart part")
            }
            try addHeader()
            line.removeAll(keepingCapacity: true)
        case .preamble, .body, .epilogue:
            preconditionFailure("scanned, not stepped")
        }
    }

    /// `Name: value`; the name is a token, the value trimmed.
    private mutating func addHeader() throws {
        guard let colon = line.firstIndex(of: UInt8(ascii: ":")), colon > 0,
              line[..<colon].allSatisfy(Self.isTokenByte) else {
            throw Self.framing("malformed multipart part header")
        }
        let name = String(decoding: line[..<colon], as: UTF8.self)
        headers.add(name, HeaderParameters.trimmed(Array(line[(colon + 1)...])))
    }

    private static func isTokenByte(_ b: UInt8) -> Bool {
        switch b {
        case 0x30...0x39, 0x41...0x5A, 0x61...0x7A: return true
        default: return tokenSymbols.contains(b)
        }
    }
    private static let tokenSymbols = Array("!#$%&'*+-.^_`|~".utf8)

    private static func framing(_ detail: String) -> HTTPError { HTTPError(.badRequest, detail) }
}
