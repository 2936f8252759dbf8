import CFastCGI
import HTTP

/// The request body over libfcgi's stdin stream, read to EOF. A read error (the
/// web server closed the connection or sent FCGI_ABORT_REQUEST mid-body) is the
/// client's doing: a 400, never a 500.
final class FCGXInput: BodyStream {
    private let stream: UnsafeMutablePointer<FCGX_Stream>
    private(set) var bytesRead: Int64 = 0
    private(set) var wasAborted = false
    private var atEnd = false

    init(_ stream: UnsafeMutablePointer<FCGX_Stream>) { self.stream = stream }

    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        if wasAborted { throw Self.abortError }
        guard !atEnd, let base = buffer.baseAddress, buffer.count > 0 else { return 0 }
        // FCGX_GetStr returns fewer bytes than asked only at end of stream or on error.
        let n = Int(FCGX_GetStr(base.assumingMemoryBound(to: CChar.self), Int32(min(buffer.count, 1 << 30)), stream))
        if n > 0 {
            bytesRead += Int64(n)
            return n
        }
        if FCGX_GetError(stream) != 0 {
            wasAborted = true
            throw Self.abortError
        }
        atEnd = true
        return 0
    }

    static var abortError: HTTPError { HTTPError(.badRequest, "The request body ended before it was complete") }
}

/// The response over libfcgi's stdout stream. A failed write means the web server
/// (and so the client) is gone.
final class FCGXOutput {
    struct ClientGone: Error {}

    private let stream: UnsafeMutablePointer<FCGX_Stream>
    private(set) var failed = false

    init(_ stream: UnsafeMutablePointer<FCGX_Stream>) { self.stream = stream }

    func put(_ bytes: UnsafeRawBufferPointer) throws {
        guard !failed else { throw ClientGone() }
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        var offset = 0
        while offset < bytes.count {
            let chunk = Int32(min(bytes.count - offset, 1 << 30))
            if FCGX_PutStr((base + offset).assumingMemoryBound(to: CChar.self), chunk, stream) != chunk {
                failed = true
                throw ClientGone()
            }
            offset += Int(chunk)
        }
    }

    func put(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { raw in try put(raw) }
    }

    func flush() {
        if !failed && FCGX_FFlush(stream) != 0 { failed = true }
    }
}
