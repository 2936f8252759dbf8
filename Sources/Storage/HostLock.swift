#if canImport(Glibc)
import Glibc
#endif

/// A lock shared by every process of this host, named by a string: a unix socket
/// bound in Linux's abstract namespace. Only one socket can hold a name, the kernel
/// frees it when the holder closes it or dies (kill -9 included), and no file is
/// ever left behind.
///
/// Used where the store alone cannot decide a race on one host: two saves of one
/// session through S3-compatible servers whose conditional writes are
/// check-then-put (moto), and electing the one worker that sweeps.
public final class HostLock {
    private let fd: Int32

    /// Takes the lock, or returns nil at once when another socket holds it.
    public init?(name: String) {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return nil }
        // A hash keeps the name short (108 bytes at most) whatever it names; two
        // names that collide only wait for each other.
        let tag = "recstore." + Self.fnv1a(name, seed: 0xcbf2_9ce4_8422_2325) + Self.fnv1a(name, seed: 0x8422_2325_cbf2_9ce4)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(tag.utf8)
        withUnsafeMutableBytes(of: &address.sun_path) { path in
            path[0] = 0  // the abstract namespace
            for (i, b) in bytes.enumerated() { path[i + 1] = b }
        }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + 1 + bytes.count)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
        }
        guard bound == 0 else { close(fd); return nil }
        self.fd = fd
    }

    /// Waits for the lock until `deadline` (polling: holders keep it for one save).
    public static func acquire(name: String, until deadline: Deadline) -> HostLock? {
        while true {
            if let lock = HostLock(name: name) { return lock }
            if deadline.passed { return nil }
            usleep(5_000)
        }
    }

    deinit { close(fd) }

    static func fnv1a(_ s: String, seed: UInt64) -> String {
        var h = seed
        for b in s.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        return String(h, radix: 16)
    }
}
