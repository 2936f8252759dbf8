#if canImport(Glibc)
import Glibc
#endif
import CFastCGI
import HTTP

/// The request body over libfcgi's stdin stream, read to EOF. A read error (the
/// web server closed the connection or sent FCGI_ABORT_REQUEST mid-body) is the
/// client's doing: a 400, never a 500. A body that does not arrive within its
/// `BodyDeadline` is a 408.
final class FCGXInput: BodyStream {
    private let stream: UnsafeMutablePointer<FCGX_Stream>
    /// The connection, whose receive timeout carries the deadline into libfcgi's reads.
    private let socket: Int32
    private let deadline: BodyDeadline
    private let started: ContinuousClock.Instant
    /// When set, reads stop here whatever the deadline allows (the bounded discard),
    /// and each read waits at most `idleLimit` for a byte.
    private var cutoff: ContinuousClock.Instant?
    private var idleLimit: Duration?
    private(set) var bytesRead: Int64 = 0
    private(set) var wasAborted = false
    private(set) var timedOut = false
    private(set) var atEnd = false

    init(_ stream: UnsafeMutablePointer<FCGX_Stream>, socket: Int32 = -1, deadline: BodyDeadline = .standard,
         started: ContinuousClock.Instant = .now) {
        self.stream = stream
        self.socket = socket
        self.deadline = deadline
        self.started = started
    }

    /// True once the stream failed (aborted or timed out): nothing more can be read.
    var failed: Bool { wasAborted || timedOut }

    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        if timedOut { throw Self.timeoutError }
        if wasAborted { throw Self.abortError }
        guard !atEnd, let base = buffer.baseAddress, buffer.count > 0 else { return 0 }
        let limit = currentLimit()
        let remaining = limit - .now
        if remaining <= .zero {
            timedOut = true
            throw Self.timeoutError
        }
        armReceiveTimeout(remaining)
        // FCGX_GetStr returns fewer bytes than asked only at end of stream or on error.
        let n = Int(FCGX_GetStr(base.assumingMemoryBound(to: CChar.self), Int32(min(buffer.count, 1 << 30)), stream))
        if n > 0 {
            bytesRead += Int64(n)
            return n
        }
        let error = FCGX_GetError(stream)
        if error != 0 {
            // A receive timeout at (or past) the limit is the deadline, anything else the peer.
            if (error == EAGAIN || error == EWOULDBLOCK) && ContinuousClock.now >= limit - .milliseconds(50) {
                timedOut = true
                throw Self.timeoutError
            }
            wasAborted = true
            throw Self.abortError
        }
        atEnd = true
        return 0
    }

    /// Reads and drops what is left of the body, at most `policy.maxBytes` within
    /// `policy.maxSeconds`. True when the body ended within those bounds.
    func discardRest(_ policy: UnreadBodyDiscard) -> Bool {
        guard !failed else { return false }
        cutoff = .now + .milliseconds(Int64(policy.maxSeconds * 1000))
        idleLimit = .milliseconds(Int64(policy.idleSeconds * 1000))
        var discarded: Int64 = 0
        // Uninitialized: zeroing 16 KiB was 16,000 instructions on every bodiless GET
        // (bench/results.md), whose rest is only the end of the stream.
        var chunk = [UInt8](unsafeUninitializedCapacity: 16 * 1024) { _, count in count = 16 * 1024 }
        while discarded <= policy.maxBytes {
            guard let n = try? chunk.withUnsafeMutableBytes({ try read(into: $0) }) else { return false }
            if n == 0 { return true }
            discarded += Int64(n)
        }
        return false
    }

    private func currentLimit() -> ContinuousClock.Instant {
        let allowance = deadline.allowance(afterReceiving: bytesRead)
        let limit = started + .milliseconds(Int64((allowance * 1000).rounded(.down)))
        var earliest = limit
        if let cutoff, cutoff < earliest { earliest = cutoff }
        if let idleLimit, ContinuousClock.now + idleLimit < earliest { earliest = .now + idleLimit }
        return earliest
    }

    /// One setsockopt per FCGX_GetStr call (up to 64 KiB, several reads): libfcgi
    /// blocks in read(2), and only the socket's receive timeout can end that wait.
    private func armReceiveTimeout(_ remaining: Duration) {
        guard socket >= 0 else { return }
        let capped = min(remaining, .seconds(FastCGIWorker.connectionTimeout))
        let (seconds, attoseconds) = capped.components
        var timeout = timeval(tv_sec: Int(seconds), tv_usec: max(1000, Int(attoseconds / 1_000_000_000_000)))
        if seconds > 0 { timeout.tv_usec = Int(attoseconds / 1_000_000_000_000) }
        setsockopt(socket, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    static var abortError: HTTPError { HTTPError(.badRequest, "The request body ended before it was complete") }
    static var timeoutError: HTTPError { HTTPError(.requestTimeout, "The request body arrived too slowly") }
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
