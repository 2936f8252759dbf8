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
/// The response as FCGI_STDOUT records written straight to the connection.
///
/// libfcgi's stdout stream has a fixed 8 KiB buffer: a 100 KB listing went out as 13
/// records in 13 write(2) calls (bench/results.md). Here up to `smallLimit` bytes
/// are gathered (a head and a small body: one record, one call, as before); anything
/// larger goes out from the caller's memory, without a copy, in records of up to
/// `maxRecordContent` bytes, many records per sendmsg(2). Closing libfcgi's stream
/// (FCGX_FClose / FCGX_Finish_r) writes the end of the stream and FCGI_END_REQUEST,
/// after everything sent here. What is still gathered at `flush()` is handed to that
/// stream (`closingStream`), so a small response, its end of stream and
/// FCGI_END_REQUEST leave in one write: one wake-up for the web server, not two.
///
/// A failed write means the web server (and so the client) is gone.
final class FCGXOutput {
    struct ClientGone: Error {}

    /// The largest record content that needs no padding (65,535 rounded down to 8).
    static let maxRecordContent = 65_528
    /// Gathered before writing: a response this small is one record.
    static let smallLimit = 8 * 1024
    /// Records per sendmsg (each up to 4 iovecs: header, gathered bytes, body, padding).
    static let recordsPerCall = 32

    private let socket: Int32
    private let requestID: UInt16
    /// libfcgi's stdout stream of the request, not yet written to (nil: `flush()`
    /// sends what is gathered itself).
    private let closingStream: UnsafeMutablePointer<FCGX_Stream>?
    /// What is gathered, `pendingCount` bytes of `smallLimit` from offset 8 (allocated
    /// at first use, with room for a record header before and padding after, so a small
    /// response is one contiguous send). Raw memory and memcpy: Array.append of a raw
    /// buffer goes byte by byte.
    private var pending: UnsafeMutableRawPointer?
    private var pendingCount = 0
    private(set) var failed = false

    /// `socket` and `requestID`: the accepted request's connection and FastCGI id;
    /// `closingStream`: its libfcgi stdout stream, which must not have been written to.
    init(socket: Int32, requestID: Int32, closingStream: UnsafeMutablePointer<FCGX_Stream>? = nil) {
        self.socket = socket
        self.requestID = UInt16(truncatingIfNeeded: requestID)
        self.closingStream = closingStream
    }

    deinit { pending?.deallocate() }

    func put(_ bytes: UnsafeRawBufferPointer) throws {
        guard !failed else { throw ClientGone() }
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        if pendingCount + bytes.count <= Self.smallLimit {
            let buffer = pending ?? UnsafeMutableRawPointer.allocate(byteCount: 8 + Self.smallLimit + 8, alignment: 8)
            pending = buffer
            (buffer + 8 + pendingCount).copyMemory(from: base, byteCount: bytes.count)
            pendingCount += bytes.count
            return
        }
        // What is gathered leads the first record; the rest is `bytes` in place.
        let head = UnsafeRawBufferPointer(start: pending.map { $0 + 8 }, count: pendingCount)
        pendingCount = 0
        if !write(head: head, body: bytes) {
            failed = true
            throw ClientGone()
        }
    }

    func put(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { raw in try put(raw) }
    }

    func flush() {
        guard !failed, pendingCount > 0, let buffer = pending else { return }
        let length = pendingCount
        pendingCount = 0
        if let stream = closingStream {
            // Buffered by libfcgi (8 KiB) and written when the stream is closed, with
            // the end of the stream and FCGI_END_REQUEST.
            if FCGX_PutStr(buffer.assumingMemoryBound(to: CChar.self) + 8, Int32(length), stream) != Int32(length) {
                failed = true
            }
            return
        }
        let pad = (8 - length % 8) % 8
        Self.fillHeader(buffer, requestID: requestID, length: length, padding: pad)
        (buffer + 8 + length).initializeMemory(as: UInt8.self, repeating: 0, count: pad)
        var vector = [iovec(iov_base: buffer, iov_len: 8 + length + pad)]
        if !Self.sendAll(socket, &vector) { failed = true }
    }

    /// `head` then `body` as the content of consecutive records.
    private func write(head: UnsafeRawBufferPointer, body: UnsafeRawBufferPointer) -> Bool {
        let total = head.count + body.count
        let records = (total + Self.maxRecordContent - 1) / Self.maxRecordContent
        var headers = [UInt8](repeating: 0, count: 8 * records)
        var vectors: [iovec] = []
        vectors.reserveCapacity(4 * min(records, Self.recordsPerCall))
        return headers.withUnsafeMutableBytes { headerBytes in
            withUnsafeBytes(of: Self.padding) { padding in
                var offset = 0  // into head + body
                var record = 0
                while offset < total {
                    vectors.removeAll(keepingCapacity: true)
                    var batch = 0
                    while offset < total && batch < Self.recordsPerCall {
                        let length = min(Self.maxRecordContent, total - offset)
                        let pad = (8 - length % 8) % 8
                        let header = headerBytes.baseAddress! + 8 * record
                        Self.fillHeader(header, requestID: requestID, length: length, padding: pad)
                        vectors.append(iovec(iov_base: header, iov_len: 8))
                        var start = offset
                        let end = offset + length
                        if start < head.count {
                            let stop = min(end, head.count)
                            vectors.append(iovec(iov_base: UnsafeMutableRawPointer(mutating: head.baseAddress! + start),
                                                 iov_len: stop - start))
                            start = stop
                        }
                        if start < end {
                            vectors.append(iovec(iov_base: UnsafeMutableRawPointer(mutating: body.baseAddress! + (start - head.count)),
                                                 iov_len: end - start))
                        }
                        if pad > 0 {
                            vectors.append(iovec(iov_base: UnsafeMutableRawPointer(mutating: padding.baseAddress!), iov_len: pad))
                        }
                        offset = end
                        record += 1
                        batch += 1
                    }
                    if !Self.sendAll(socket, &vectors) { return false }
                }
                return true
            }
        }
    }

    private static let padding: UInt64 = 0

    /// FCGI_Header: version 1, FCGI_STDOUT (6), request id, content length, padding.
    private static func fillHeader(_ p: UnsafeMutableRawPointer, requestID: UInt16, length: Int, padding: Int) {
        let fields: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) =
            (1, 6, UInt8(requestID >> 8), UInt8(requestID & 0xFF), UInt8(length >> 8), UInt8(length & 0xFF), UInt8(padding), 0)
        p.storeBytes(of: fields, as: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8).self)
    }

    /// Writes every byte `vectors` name, resuming after short writes (a signal, the
    /// send timeout cutting a blocked write); MSG_NOSIGNAL: a gone peer is an error
    /// here, never a signal.
    private static func sendAll(_ socket: Int32, _ vectors: inout [iovec]) -> Bool {
        var first = 0
        while first < vectors.count {
            let sent = vectors.withUnsafeMutableBufferPointer { v -> Int in
                var message = msghdr()
                message.msg_iov = v.baseAddress! + first
                message.msg_iovlen = v.count - first
                return sendmsg(socket, &message, Int32(MSG_NOSIGNAL))
            }
            if sent < 0 {
                if errno == EINTR { continue }
                return false
            }
            var left = sent
            while first < vectors.count && left >= vectors[first].iov_len {
                left -= vectors[first].iov_len
                first += 1
            }
            if left > 0 {
                vectors[first].iov_base = vectors[first].iov_base + left
                vectors[first].iov_len -= left
            }
        }
        return true
    }
}
