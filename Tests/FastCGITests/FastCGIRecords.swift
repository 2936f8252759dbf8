import Foundation

/// FastCGI records built in memory, the way a web server sends them, so tests can
/// split parameters and bodies across records exactly as they like.
struct RecordStream {
    enum RecordType: UInt8 {
        case beginRequest = 1, abortRequest = 2, endRequest = 3, params = 4, stdin = 5, stdout = 6, stderr = 7
    }

    private(set) var bytes: [UInt8] = []
    let requestID: UInt16

    init(requestID: UInt16 = 1) { self.requestID = requestID }

    mutating func record(_ type: RecordType, _ content: some Collection<UInt8>, padding: Int = 0) {
        precondition(content.count <= 65535)
        bytes += [1, type.rawValue, UInt8(requestID >> 8), UInt8(requestID & 0xFF),
                  UInt8(content.count >> 8), UInt8(content.count & 0xFF), UInt8(padding), 0]
        bytes += content
        bytes += [UInt8](repeating: 0, count: padding)
    }

    /// FCGI_BEGIN_REQUEST, responder role, no keep-alive (as nginx sends it).
    mutating func begin() { record(.beginRequest, [0, 1, 0, 0, 0, 0, 0, 0]) }

    /// The pairs encoded once, then cut into records of at most `recordSize` bytes
    /// (a name or value may be split anywhere), then the empty end-of-params record.
    mutating func params(_ pairs: [(String, String)], recordSize: Int = 65535) {
        var blob: [UInt8] = []
        for (name, value) in pairs {
            for length in [name.utf8.count, value.utf8.count] {
                if length < 128 {
                    blob.append(UInt8(length))
                } else {
                    blob += [UInt8((length >> 24) | 0x80), UInt8((length >> 16) & 0xFF), UInt8((length >> 8) & 0xFF), UInt8(length & 0xFF)]
                }
            }
            blob += Array(name.utf8) + Array(value.utf8)
        }
        chunked(.params, blob, sizes: { recordSize })
        record(.params, [])
    }

    /// The body in records whose sizes `sizes` picks, then the empty end-of-stdin record.
    mutating func stdin(_ body: [UInt8], sizes: () -> Int = { 65535 }, end: Bool = true) {
        chunked(.stdin, body, sizes: sizes)
        if end { record(.stdin, []) }
    }

    mutating func abort() { record(.abortRequest, []) }

    private mutating func chunked(_ type: RecordType, _ data: [UInt8], sizes: () -> Int) {
        var offset = 0
        while offset < data.count {
            let n = min(max(1, sizes()), 65535, data.count - offset)
            record(type, data[offset..<offset + n], padding: (8 - n % 8) % 8)
            offset += n
        }
    }
}

/// What came back on one connection.
struct FastCGIReply {
    var stdout: [UInt8] = []
    var stderr: [UInt8] = []
    /// False when the connection closed without FCGI_END_REQUEST.
    var ended = false

    var head: String {
        guard let end = stdout.firstRange(of: Array("\r\n\r\n".utf8)) else { return String(decoding: stdout, as: UTF8.self) }
        return String(decoding: stdout[..<end.lowerBound], as: UTF8.self)
    }

    var body: [UInt8] {
        guard let end = stdout.firstRange(of: Array("\r\n\r\n".utf8)) else { return [] }
        return Array(stdout[end.upperBound...])
    }

    var bodyText: String { String(decoding: body, as: UTF8.self) }

    var status: Int? {
        guard head.hasPrefix("Status: ") else { return nil }
        return Int(head.dropFirst(8).prefix(3))
    }

    /// The head's header lines (after `Status:`), name → value; repeated names: last wins.
    var headers: [String: String] {
        var result: [String: String] = [:]
        for line in head.components(separatedBy: "\r\n").dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            result[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        return result
    }

    var json: [String: Any]? { try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any] }
}

/// A web-server side connection to a unix socket.
final class FastCGIConnection {
    private(set) var fd: Int32

    init(path: String) throws {
        fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            let bytes = Array(path.utf8)
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        let status = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard status == 0 else {
            close(fd)
            throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO)
        }
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit { finish() }

    /// Closes the connection, as nginx does once it has the whole reply (libfcgi
    /// lingers up to 2 s after a reply, waiting for the web server to close).
    func finish() {
        if fd >= 0 { close(fd) }
        fd = -1
    }

    /// Writes `bytes` in pieces of `pieceSize` (small pieces make libfcgi see
    /// records arrive in fragments).
    func send(_ bytes: [UInt8], pieceSize: Int = 1 << 20) {
        var offset = 0
        while offset < bytes.count {
            let n = min(pieceSize, bytes.count - offset)
            let written = bytes[offset..<offset + n].withUnsafeBytes { write(fd, $0.baseAddress, n) }
            guard written > 0 else { return }
            offset += written
        }
    }

    func closeWriting() { shutdown(fd, Int32(SHUT_WR)) }

    /// Reads records until FCGI_END_REQUEST, EOF or the receive timeout.
    func readReply() -> FastCGIReply {
        var reply = FastCGIReply()
        var buffer: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            while buffer.count >= 8 {
                let length = Int(buffer[4]) << 8 | Int(buffer[5])
                let total = 8 + length + Int(buffer[6])
                guard buffer.count >= total else { break }
                let content = buffer[8..<8 + length]
                switch buffer[1] {
                case RecordStream.RecordType.stdout.rawValue: reply.stdout += content
                case RecordStream.RecordType.stderr.rawValue: reply.stderr += content
                case RecordStream.RecordType.endRequest.rawValue:
                    reply.ended = true
                    return reply
                default: break
                }
                buffer.removeFirst(total)
            }
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n <= 0 { return reply }
            buffer += chunk[0..<n]
        }
    }
}

extension Array where Element == UInt8 {
    /// Deterministic pseudo-random bytes.
    static func pattern(count: Int, seed: UInt64 = 0x9E3779B97F4A7C15) -> [UInt8] {
        var state = seed
        return (0..<count).map { _ in
            state ^= state << 13; state ^= state >> 7; state ^= state << 17
            return UInt8(truncatingIfNeeded: state)
        }
    }

    /// FNV-1a, enough to tell bodies apart.
    var fnv1a: UInt64 {
        var hash: UInt64 = 0xcbf29ce484222325
        for b in self { hash = (hash ^ UInt64(b)) &* 0x100000001b3 }
        return hash
    }
}
