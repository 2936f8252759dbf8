#if canImport(Glibc)
import Glibc
#endif
import CFastCGI
import Diagnostics
import HTTP
import Synchronization

/// One worker process's request loop: `threads` threads, each with its own
/// `FCGX_Request`, each waiting for connections on the shared listening socket.
///
/// Each thread waits in its own epoll instance, where the listening socket is
/// registered with `EPOLLEXCLUSIVE`: a new connection wakes one waiting thread (of
/// all the workers' threads), not every one. Waiting in poll(2) under an accept mutex
/// (the shape libfcgi's threaded example has) woke the waiting thread of every
/// worker for each connection, all but one to find EAGAIN, and handed the mutex on
/// with another wake-up; once requests were quick, the threads spent a quarter of
/// their CPU spinning in the mutex (bench/results.md).
///
/// Stopping is graceful: `stop()` (or a signal handler writing a byte to
/// `stopDescriptor`) makes the stop pipe readable, which every thread's epoll
/// instance watches; a thread accepts no new connection once it has seen it (not
/// even one it was woken for: `--max-requests` means at most that many; the
/// connection stays queued, and level-triggered instances that reported the socket
/// before, or the replacement worker's new ones, see it at their next wait). Once no thread
/// is waiting or accepting, the listening socket is closed, so that queued
/// connections go to the other workers (or are refused once every process has closed
/// it); requests in flight run to completion; then `run()` returns.
public final class FastCGIWorker: Sendable {
    private let listeningFD: Int32
    private let threadCount: Int
    private let maxRequests: Int
    private let transport: Transport
    private let stopRead: Int32
    private let stopWrite: Int32
    private let served = Atomic<Int>(0)
    private let listenerFailed = Atomic<Bool>(false)
    private let stopping = Atomic<Bool>(false)
    /// Threads not serving a request (starting, waiting, accepting): while any is,
    /// the listening descriptor must stay open.
    private let accepting = Atomic<Int>(0)
    /// Unix-domain connections do not inherit the listening socket's timeouts.
    private let acceptedNeedSendTimeout: Bool

    /// - Parameters:
    ///   - listeningFD: the shared listening socket (fd 0 in a spawned worker); the worker closes it when it stops.
    ///   - maxRequests: stop after this many requests (0: never), so the supervisor can start a fresh process.
    ///   - bodyDeadline: how long a request body may take to arrive (408 after).
    public init(listeningFD: Int32, threads: Int, maxRequests: Int = 0, responder: Responder,
                bodyDeadline: BodyDeadline = .standard) throws(ListenerError) {
        guard FCGX_Init() == 0 else { throw ListenerError("FCGX_Init failed") }
        // A thread woken for a connection another process took must get EAGAIN and
        // go back to waiting, not sit in accept() where a stop cannot reach it.
        let flags = fcntl(listeningFD, F_GETFL)
        guard flags >= 0, fcntl(listeningFD, F_SETFL, flags | O_NONBLOCK) == 0 else {
            throw ListenerError("fd \(listeningFD) is not usable: \(errorText())")
        }
        // TCP connections inherit both from the listening socket (a peer that connects
        // and then says nothing cannot hold a thread for long); unix-domain ones
        // inherit neither, and there libfcgi closes a connection that sends nothing
        // for 2 s before it reads the parameters.
        Self.setTimeout(listeningFD, SO_RCVTIMEO, seconds: Self.handshakeTimeout)
        Self.setTimeout(listeningFD, SO_SNDTIMEO, seconds: Self.connectionTimeout)
        var address = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let family = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(listeningFD, $0, &length) }
        } == 0 ? Int32(address.ss_family) : AF_UNIX
        self.acceptedNeedSendTimeout = family == AF_UNIX
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
        // Counted from before they start: a stop that comes first must not close the
        // descriptor under a thread that is about to register it.
        accepting.store(threadCount, ordering: .sequentiallyConsistent)
        let threads = (0..<threadCount).map { _ in NativeThread { [self] in self.serveRequests() } }
        waitForStop()
        stopping.store(true, ordering: .sequentiallyConsistent)
        // Waiting ends at the stop; accept(2) does not block (the socket is
        // non-blocking). Reading a new connection's parameters is bounded over TCP
        // (`handshakeTimeout`); on a unix socket libfcgi waits 2 s for the first bytes,
        // and a web server stalling in mid-parameters is what this limit is for: the
        // thread is past accept(2) by then, so closing is safe.
        let limit = ContinuousClock.now + .seconds(15)
        while accepting.load(ordering: .sequentiallyConsistent) > 0 && ContinuousClock.now < limit { usleep(1000) }
        close(listeningFD)
        for thread in threads { thread.join() }
        return !listenerFailed.load(ordering: .relaxed)
    }

    private func waitForStop() {
        var pfd = pollfd(fd: stopRead, events: Int16(POLLIN), revents: 0)
        while poll(&pfd, 1, -1) <= 0 || pfd.revents == 0 {}
    }

    private func serveRequests() {
        defer { accepting.subtract(1, ordering: .sequentiallyConsistent) }
        guard !stopping.load(ordering: .sequentiallyConsistent) else { return }
        guard let waiter = ConnectionWaiter(listeningFD: listeningFD, stopFD: stopRead) else {
            Log.error("epoll failed", ["error": errorText()])
            failListener()
            return
        }
        defer { waiter.close() }
        let request = UnsafeMutablePointer<FCGX_Request>.allocate(capacity: 1)
        defer { request.deallocate() }
        FCGX_InitRequest(request, listeningFD, 0)
        while accept(into: request, waiter: waiter) {
            accepting.subtract(1, ordering: .sequentiallyConsistent)
            transport.serve(request)
            let count = served.add(1, ordering: .relaxed).newValue
            if maxRequests > 0 && count >= maxRequests { stop() }
            accepting.add(1, ordering: .sequentiallyConsistent)
        }
        FCGX_Free(request, 1)
    }

    /// Waits for a connection or the stop; true with a request accepted into `request`.
    private func accept(into request: UnsafeMutablePointer<FCGX_Request>, waiter: ConnectionWaiter) -> Bool {
        // Seen while this thread is counted in `accepting`: `run()` closes the socket
        // only once the count is 0 after it set `stopping`, so from here the
        // descriptor stays open.
        if stopping.load(ordering: .sequentiallyConsistent) { return false }
        while true {
            let readiness: ConnectionWaiter.Readiness
            do {
                readiness = try waiter.wait()
            } catch {
                Log.error("waiting for connections failed", ["error": errorText(error.code)])
                failListener()
                return false
            }
            if readiness.listenerFailed {
                Log.error("the listening socket failed", ["fd": Int(listeningFD)])
                failListener()
                return false
            }
            if readiness.stop { return false }
            if readiness.connection {
                let status = FCGX_Accept_r(request)
                if status == 0 {
                    // From here the web server's own timeouts govern; ours only ends a
                    // write to a peer that stopped reading or vanished without closing
                    // (a dead host). Reads need none here: every read of the body sets
                    // its own deadline (`FCGXInput`).
                    if acceptedNeedSendTimeout {
                        Self.setTimeout(request.pointee.ipcFd, SO_SNDTIMEO, seconds: Self.connectionTimeout)
                    }
                    return true
                }
                switch -status {
                case EAGAIN, EWOULDBLOCK, EINTR, ECONNABORTED, EPROTO, ECONNRESET:
                    break // another thread took it, or the peer gave up
                default:
                    // e.g. EMFILE: back off a little instead of spinning.
                    Log.error("accept failed", ["error": status < 0 && status > -4096 ? errorText(-status) : "libfcgi error \(status)"])
                    usleep(50_000)
                }
            }
        }
    }

    /// Bounds reading a new TCP connection's parameters (nginx sends them at once);
    /// set on the listening socket, whose receive timeout TCP connections inherit.
    static let handshakeTimeout = 5
    /// Bounds each read or write on an accepted connection; above nginx's
    /// fastcgi_send_timeout / fastcgi_read_timeout.
    static let connectionTimeout = 330

    static func setTimeout(_ fd: Int32, _ option: Int32, seconds: Int) {
        var timeout = timeval(tv_sec: seconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, option, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    private func failListener() {
        listenerFailed.store(true, ordering: .relaxed)
        stop()
    }
}
