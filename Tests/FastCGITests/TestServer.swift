import Foundation
import HTTP
@testable import FastCGI

/// A FastCGIWorker on a unix socket in a temporary directory, run on a background
/// thread, as a worker process runs it.
final class TestServer: @unchecked Sendable {
    let directory: String
    let socketPath: String
    let listener: Listener
    let worker: FastCGIWorker
    private let finished = DispatchSemaphore(value: 0)
    private var hasFinished = false
    private var stopped = false

    init(threads: Int = 2, maxRequests: Int = 0, bodyDeadline: BodyDeadline = .standard, responder: Responder) throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("fcgi-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        socketPath = directory + "/s.sock"
        listener = try Listener.open(.unix(path: socketPath))
        // The worker closes its descriptor when it stops; the listener keeps its own.
        worker = try FastCGIWorker(listeningFD: dup(listener.fd), threads: threads, maxRequests: maxRequests, responder: responder,
                                   bodyDeadline: bodyDeadline)
        let worker = self.worker, finished = self.finished
        Thread.detachNewThread {
            worker.run()
            finished.signal()
        }
    }

    func connect() throws -> FastCGIConnection { try FastCGIConnection(path: socketPath) }

    /// Sends one request and reads the reply.
    func exchange(_ stream: RecordStream, pieceSize: Int = 1 << 20) throws -> FastCGIReply {
        let connection = try connect()
        connection.send(stream.bytes, pieceSize: pieceSize)
        return connection.readReply()
    }

    /// True once `run()` has returned (waiting up to `timeout`).
    func waitUntilFinished(timeout: Double) -> Bool {
        if !hasFinished { hasFinished = finished.wait(timeout: .now() + timeout) == .success }
        return hasFinished
    }

    func shutdown() {
        guard !stopped else { return }
        stopped = true
        worker.stop()
        _ = waitUntilFinished(timeout: 10)
        listener.close()
        try? FileManager.default.removeItem(atPath: directory)
    }

    deinit { shutdown() }
}

/// A responder from a closure.
struct ClosureResponder: Responder {
    let handle: @Sendable (Request) -> Response
    func respond(to request: Request) -> Response { handle(request) }
}

/// Builds a GET/POST request's records.
func requestRecords(method: String = "GET", uri: String = "/", extra: [(String, String)] = [],
                    body: [UInt8] = [], paramsRecordSize: Int = 65535, stdinSizes: @escaping () -> Int = { 65535 }) -> RecordStream {
    var stream = RecordStream()
    stream.begin()
    var params = [("REQUEST_METHOD", method), ("REQUEST_URI", uri)]
    if let q = uri.firstIndex(of: "?") { params.append(("QUERY_STRING", String(uri[uri.index(after: q)...]))) }
    if !body.isEmpty { params.append(("CONTENT_LENGTH", String(body.count))) }
    stream.params(params + extra, recordSize: paramsRecordSize)
    stream.stdin(body, sizes: stdinSizes)
    return stream
}
