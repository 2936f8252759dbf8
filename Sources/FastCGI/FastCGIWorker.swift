#if canImport(Glibc)
import Glibc
#endif
import CFastCGI
import Diagnostics
import HTTP
import Synchronization

/// One worker process's request loop: `threads` threads, each with its own
/// `FCGX_Request`, taking turns to accept on the shared listening socket.
///
/// Stopping is graceful: `stop()` (or a signal handler writing a byte to
/// `stopDescriptor`) wakes the thread waiting to accept; no thread accepts again;
/// requests in flight run to completion; then `run()` returns.
public final class FastCGIWorker: Sendable {
    private let listeningFD: Int32
    private let threadCount: Int
    private let maxRequests: Int
    private let transport: Transport
    private let stopRead: Int32
    private let stopWrite: Int32
    /// Held while waiting for and accepting a connection, so one thread at a time
    /// accepts (libfcgi's own threaded example does the same). The value is true
    /// once the worker is stopping.
    private let acceptState = Mutex<Bool>(false)
    private let served = Atomic<Int>(0)
    private let listenerFailed = Atomic<Bool>(false)

    /// - Parameters:
    ///   - listeningFD: the shared listening socket (fd 0 in a spawned worker); the worker closes it when it stops.
    ///   - maxRequests: stop after this many requests (0: never), so the supervisor can start a fresh process.
    ///   - bodyDeadline: how long a request body may take to arrive (408 after).
    public init(listeningFD: Int32, threads: Int, maxRequests: Int = 0, responder: Responder,
                bodyDeadline: BodyDeadline = .standard) throws(ListenerError) {
        guard FCGX_Init() == 0 else { throw ListenerError("FCGX_Init failed") }
        // Several processes wake up for one connection; the losers must get EAGAIN
        // and go back to waiting, not sit in accept() where a stop cannot reach them.
        let flags = fcntl(listeningFD, F_GETFL)
        guard flags >= 0, fcntl(listeningFD, F_SETFL, flags | O_NONBLOCK) == 0 else {
            throw ListenerError("fd \(listeningFD) is not usable: \(errorText())")
        }
        // Accepted connections inherit this from the listening socket: a peer that
        // connects and then says nothing cannot hold the accept turn for long.
        Self.setTimeouts(listeningFD, seconds: Self.handshakeTimeout)
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { throw ListenerError("pipe: \(errorText())") }
        for fd in fds {
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
            _ = fcntl(fd, F_SETFL, O_NONBLOCK)
        }
        self.listeningFD = listeningFD
        self.threadCount = max(1, threads)
        self.maxRequests = max(0, maxRequests)
        self.transport = Transport(responder: responder, bodyDeadline: bodyDeadline)
        self.stopRead = fds[0]
        self.stopWrite = fds[1]
    }

    deinit {
        close(stopRead)
        close(stopWrite)
    }

    /// Writing any byte here stops the worker; safe from a signal handler.
    public var stopDescriptor: Int32 { stopWrite }

    /// Requests served so far.
    public var requestsServed: Int { served.load(ordering: .relaxed) }

    public func stop() {
        var byte: UInt8 = 1
        _ = write(stopWrite, &byte, 1) // EAGAIN: the pipe is full, so the stop is already visible
    }

    /// Serves until stopped. Returns false when the listening socket failed rather
    /// than being stopped on purpose.
    @discardableResult
    public func run() -> Bool {
        let threads = (0..<threadCount).map { _ in NativeThread { [self] in self.serveRequests() } }
        waitForStop()
        acceptState.withLock { $0 = true }
        // No thread accepts any more: let connections still queued go to the other
        // workers, or be refused once every process has closed the socket.
        close(listeningFD)
        for thread in threads { thread.join() }
        return !listenerFailed.load(ordering: .relaxed)
    }

    private func waitForStop() {
        var pfd = pollfd(fd: stopRead, events: Int16(POLLIN), revents: 0)
        while poll(&pfd, 1, -1) <= 0 || pfd.revents == 0 {}
    }

    private func serveRequests() {
        let request = UnsafeMutablePointer<FCGX_Request>.allocate(capacity: 1)
        defer { request.deallocate() }
        FCGX_InitRequest(request, listeningFD, 0)
        while accept(into: request) {
            transport.serve(request)
            let count = served.add(1, ordering: .relaxed).newValue
            if maxRequests > 0 && count >= maxRequests { stop() }
        }
        FCGX_Free(request, 1)
    }

    /// Waits for a connection or the stop; true with a request accepted into `request`.
    private func accept(into request: UnsafeMutablePointer<FCGX_Request>) -> Bool {
        acceptState.withLock { stopping -> Bool in
            while !stopping {
                var fds = [pollfd(fd: listeningFD, events: Int16(POLLIN), revents: 0),
                           pollfd(fd: stopRead, events: Int16(POLLIN), revents: 0)]
                let ready = poll(&fds, 2, -1)
                if ready < 0 {
                    if errno == EINTR { continue }
                    Log.error("poll failed", ["error": errorText()])
                    failListener()
                    stopping = true
                    break
                }
                if fds[1].revents != 0 {
                    stopping = true
                    break
                }
                if fds[0].revents & Int16(POLLERR | POLLNVAL) != 0 {
                    Log.error("the listening socket failed", ["fd": Int(listeningFD)])
                    failListener()
                    stopping = true
                    break
                }
                guard fds[0].revents != 0 else { continue }
                let status = FCGX_Accept_r(request)
                if status == 0 {
                    // From here the web server's own timeouts govern; ours only ends a
                    // request whose peer vanished without closing (a dead host).
                    Self.setTimeouts(request.pointee.ipcFd, seconds: Self.connectionTimeout)
                    return true
                }
                switch -status {
                case EAGAIN, EWOULDBLOCK, EINTR, ECONNABORTED, EPROTO, ECONNRESET:
                    continue // another process took it, or the peer gave up
                default:
                    // e.g. EMFILE: back off a little instead of spinning.
                    Log.error("accept failed", ["error": status < 0 && status > -4096 ? errorText(-status) : "libfcgi error \(status)"])
                    usleep(50_000)
                }
            }
            return false
        }
    }

    /// Bounds reading a new connection's parameters (nginx sends them at once).
    static let handshakeTimeout = 5
    /// Bounds each read or write on an accepted connection; above nginx's
    /// fastcgi_send_timeout / fastcgi_read_timeout.
    static let connectionTimeout = 330

    static func setTimeouts(_ fd: Int32, seconds: Int) {
        var timeout = timeval(tv_sec: seconds, tv_usec: 0)
        let size = socklen_t(MemoryLayout<timeval>.size)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, size)
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, size)
    }

    private func failListener() {
        listenerFailed.store(true, ordering: .relaxed)
        stop()
    }
}
