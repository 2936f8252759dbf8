#if canImport(Glibc)
import Glibc
#endif
import CFastCGI

/// One thread's wait for "a connection is queued on the listening socket" or "the
/// worker is stopping": an epoll instance of its own, with the listening socket
/// registered `EPOLLEXCLUSIVE` (the kernel wakes one waiting instance per
/// connection instead of all of them; instances whose thread is busy serving are
/// skipped) and the stop pipe registered plainly (every instance sees it).
/// Level-triggered: a stop stays visible to every later wait, and a backlog keeps
/// being reported while connections remain queued.
struct ConnectionWaiter {
    struct Readiness {
        var connection = false
        var stop = false
        var listenerFailed = false
    }

    struct WaitError: Error { let code: Int32 }

    private let epollFD: Int32
    private let listeningFD: Int32
    private let stopFD: Int32

    init?(listeningFD: Int32, stopFD: Int32) {
        let epollFD = epoll_create1(Int32(EPOLL_CLOEXEC))
        guard epollFD >= 0 else { return nil }
        var listening = epoll_event()
        listening.events = EPOLLIN.rawValue | EPOLLEXCLUSIVE.rawValue
        listening.data.fd = listeningFD
        var stopping = epoll_event()
        stopping.events = EPOLLIN.rawValue
        stopping.data.fd = stopFD
        guard epoll_ctl(epollFD, EPOLL_CTL_ADD, listeningFD, &listening) == 0,
              epoll_ctl(epollFD, EPOLL_CTL_ADD, stopFD, &stopping) == 0 else {
            let code = errno
            Glibc.close(epollFD)
            errno = code
            return nil
        }
        self.epollFD = epollFD
        self.listeningFD = listeningFD
        self.stopFD = stopFD
    }

    func close() { Glibc.close(epollFD) }

    /// Blocks until at least one of the two is ready (EINTR is waited through).
    func wait() throws(WaitError) -> Readiness {
        var events = (epoll_event(), epoll_event())
        let count = withUnsafeMutableBytes(of: &events) { raw in
            let buffer = raw.baseAddress!.assumingMemoryBound(to: epoll_event.self)
            while true {
                let n = epoll_wait(epollFD, buffer, 2, -1)
                if n >= 0 || errno != EINTR { return n }
            }
        }
        guard count >= 0 else { throw WaitError(code: errno) }
        var readiness = Readiness()
        withUnsafeBytes(of: &events) { raw in
            let buffer = raw.baseAddress!.assumingMemoryBound(to: epoll_event.self)
            for event in UnsafeBufferPointer(start: buffer, count: Int(count)) {
                if event.data.fd == stopFD {
                    readiness.stop = true
                } else if event.events & (EPOLLERR.rawValue | EPOLLHUP.rawValue) != 0 {
                    readiness.listenerFailed = true
                } else {
                    readiness.connection = true
                }
            }
        }
        return readiness
    }
}
