#if canImport(Glibc)
import Glibc
#endif

/// The descriptor routed signals are written to. Set before any handler is
/// installed and never changed while one may run.
nonisolated(unsafe) private var routedSignalsFD: Int32 = -1

/// Turns asynchronous signals into bytes on a pipe (the self-pipe trick), so the
/// code that reacts to them runs in a normal loop instead of a signal handler.
public enum SignalRouting {
    /// Each of `signals` writes one byte, its number, to `fd`. The handler only
    /// calls write(2), which is async-signal-safe, and preserves errno.
    public static func route(_ signals: [Int32], to fd: Int32) {
        routedSignalsFD = fd
        for signo in signals {
            var action = sigaction()
            action.__sigaction_handler.sa_handler = { signo in
                let saved = errno
                var byte = UInt8(truncatingIfNeeded: signo)
                _ = write(routedSignalsFD, &byte, 1)
                errno = saved
            }
            sigemptyset(&action.sa_mask)
            action.sa_flags = SA_RESTART
            sigaction(signo, &action, nil)
        }
    }

    public static func ignore(_ signals: [Int32]) {
        for signo in signals { signal(signo, SIG_IGN) }
    }

    /// A close-on-exec, non-blocking pipe: (read end, write end).
    public static func makePipe() -> (read: Int32, write: Int32)? {
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { return nil }
        for fd in fds {
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
            _ = fcntl(fd, F_SETFL, O_NONBLOCK)
        }
        return (fds[0], fds[1])
    }
}
