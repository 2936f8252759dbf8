#if canImport(Glibc)
import Glibc
#endif

/// Before a connection with unread input is cut, the web server must have taken the
/// whole response. An early answer (413 for an upload over the limit, say) is written
/// while nginx is still busy sending the body, and it goes on sending until it has
/// finished with the answer (see `UnreadBodyDiscard`). A cut before nginx has even
/// read the answer fails its next write, and the client gets nginx's own HTML 413
/// page or a truncated body instead of ours.
///
/// So: until the socket's send queue is empty (`SIOCOUTQ`: bytes the peer has not
/// read, on a unix socket; not yet acknowledged, over TCP) or `until`, keep reading
/// and dropping what arrives, so that nginx is never blocked writing meanwhile.
enum ResponseHandOver {
    /// True when the peer has taken everything written (or closed its side).
    static func await(socket: Int32, until: ContinuousClock.Instant) -> Bool {
        var scratch = [UInt8](unsafeUninitializedCapacity: 16 * 1024) { _, count in count = 16 * 1024 }
        while true {
            var pending: Int32 = 0
            guard ioctl(socket, UInt(TIOCOUTQ), &pending) == 0 else { return false }
            if pending == 0 { return true }
            let remaining = until - .now
            if remaining <= .zero { return false }
            let (seconds, attoseconds) = remaining.components
            let milliseconds = min(10, Int32(seconds) * 1000 + Int32(attoseconds / 1_000_000_000_000_000) + 1)
            var descriptor = pollfd(fd: socket, events: Int16(POLLIN), revents: 0)
            guard poll(&descriptor, 1, milliseconds) >= 0 || errno == EINTR else { return false }
            if descriptor.revents & Int16(POLLIN | POLLHUP | POLLERR) != 0 {
                let n = scratch.withUnsafeMutableBytes { recv(socket, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
                if n == 0 { return true }  // the peer closed: nothing more to hand over
                if n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR { return false }
            }
        }
    }
}
