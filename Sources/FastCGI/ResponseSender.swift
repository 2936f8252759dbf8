#if canImport(Glibc)
import Glibc
#endif
import Diagnostics
import HTTP
import POSIX

/// Writes one response: the head, then the body in chunks (from memory, a file
/// or a producer). A streamed body's head is held back until its first bytes, so
/// a producer that fails before writing anything still gets a proper error response.
final class ResponseSender {
    enum Outcome: Equatable {
        case complete
        /// The web server stopped taking the response.
        case clientGone
        /// The body could not be completed after the head went out; the connection
        /// must be cut so the client sees a broken response, not a short one.
        case cutShort
    }

    static let chunkSize = 64 * 1024

    private let output: FCGXOutput
    private let request: Request
    private(set) var status: Status = .ok
    private(set) var bodyBytes: Int64 = 0
    private var pendingHead: [UInt8]?
    private var headSent = false

    init(output: FCGXOutput, request: Request) {
        self.output = output
        self.request = request
    }

    func send(_ response: Response) -> Outcome {
        do {
            return try deliver(response)
        } catch {
            return .clientGone
        }
    }

    private func deliver(_ original: Response) throws -> Outcome {
        let response = original
        // Fields the transport sets, replacing any the response has. Every answer
        // under /api/v1, errors and fallbacks included, is private.
        var set: [(name: String, value: String)] = []
        set.reserveCapacity(4)
        if PrivateResponses.applies(to: request.rawPath) { set += PrivateResponses.fields }
        set.append(("X-Request-ID", request.requestID))
        let code = response.status.rawValue
        let mayHaveBody = !(100..<200).contains(code) && code != 204 && code != 304
        let sendsBody = mayHaveBody && request.method != "HEAD"

        switch response.body {
        case .empty, .bytes:
            var bytes: [UInt8] = []
            if case .bytes(let b) = response.body { bytes = b }
            if mayHaveBody { set.append(("Content-Length", String(bytes.count))) }
            try writeHead(response, set)
            if sendsBody { try writeBody(bytes) }
            return .complete

        case .file(let path, let offset, let length):
            if mayHaveBody { set.append(("Content-Length", String(length))) }
            guard sendsBody else {
                try writeHead(response, set)
                return .complete
            }
            // O_NOFOLLOW: a symlink planted in the storage tree never leads outside it.
            let fd = FileIO.open(path, O_RDONLY | O_NOFOLLOW)
            guard fd >= 0 else {
                let code = errno
                if code == ENOENT || code == ELOOP { return try deliver(HTTPError(.notFound, "Not Found").response) }
                let failure = SystemError("cannot open response file", path, code: code)
                return try deliver(ErrorResponse.response(for: failure, request: request, unhandled: "cannot open response file"))
            }
            defer { close(fd) }
            try writeHead(response, set)
            return try copy(fd: fd, offset: offset, length: length)

        case .stream(let produce):
            guard sendsBody else {
                try writeHead(response, set)
                return .complete
            }
            status = response.status
            pendingHead = ResponseHead.serialize(status: response.status, headers: response.headers, setting: set,
                                                 requestID: request.requestID)
            do {
                try produce(StreamWriter(sender: self))
            } catch {
                if output.failed { return .clientGone }
                if headSent {
                    Log.error("response stream failed after its head was sent",
                              ["request_id": request.requestID, "bytes_sent": bodyBytes, "error": String(describing: error)])
                    return .cutShort
                }
                pendingHead = nil
                return try deliver(ErrorResponse.response(for: error, request: request, unhandled: "response stream failed"))
            }
            try sendPendingHead()
            return .complete
        }
    }

    private func copy(fd: Int32, offset: Int64, length: Int64) throws -> Outcome {
        var buffer = [UInt8](repeating: 0, count: Self.chunkSize)
        var position = offset
        var remaining = length
        while remaining > 0 {
            let want = Int(min(Int64(Self.chunkSize), remaining))
            let n = (try? buffer.withUnsafeMutableBytes { (b) in
                try FileIO.read(fd, into: b.baseAddress!, count: want, at: position, path: "response file")
            }) ?? -1
            guard n > 0 else {
                Log.error("response file shorter than announced",
                          ["request_id": request.requestID, "missing_bytes": remaining])
                return .cutShort
            }
            try buffer.withUnsafeBytes { raw in
                try writeBody(UnsafeRawBufferPointer(rebasing: raw[0..<n]))
            }
            position += Int64(n)
            remaining -= Int64(n)
        }
        return .complete
    }

    private func writeHead(_ response: Response, _ set: [(name: String, value: String)]) throws {
        status = response.status
        headSent = true
        try output.put(ResponseHead.serialize(status: response.status, headers: response.headers, setting: set,
                                              requestID: request.requestID))
    }

    fileprivate func sendPendingHead() throws {
        guard let head = pendingHead else { return }
        pendingHead = nil
        headSent = true
        try output.put(head)
    }

    fileprivate func writeBody(_ bytes: UnsafeRawBufferPointer) throws {
        try output.put(bytes)
        bodyBytes += Int64(bytes.count)
    }

    private func writeBody(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { raw in try writeBody(raw) }
    }
}

/// What a `.stream` body's producer writes to.
private struct StreamWriter: BodyWriter {
    let sender: ResponseSender

    func write(_ bytes: UnsafeRawBufferPointer) throws {
        guard bytes.count > 0 else { return }
        try sender.sendPendingHead()
        try sender.writeBody(bytes)
    }
}
