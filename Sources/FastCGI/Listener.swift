#if canImport(Glibc)
import Glibc
#endif
import POSIX

public struct ListenerError: Error, CustomStringConvertible, Sendable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// The listening socket the workers share. The descriptor is close-on-exec: a
/// worker receives it explicitly, duplicated onto its fd 0.
public final class Listener: @unchecked Sendable {
    public let fd: Int32
    public let address: ListenAddress
    /// The socket file we created (device, inode): we remove that file and no other,
    /// even if a successor has already put its own socket at the same path.
    private let createdFile: (device: UInt64, inode: UInt64)?
    private var isClosed = false

    private init(fd: Int32, address: ListenAddress, createdFile: (UInt64, UInt64)? = nil) {
        self.fd = fd
        self.address = address
        self.createdFile = createdFile
    }

    public static func open(_ address: ListenAddress, backlog: Int32 = 1024) throws(ListenerError) -> Listener {
        switch address {
        case .unix(let path): return try openUnix(path: path, backlog: backlog)
        case .tcp(let host, let port): return try openTCP(host: host, port: port, backlog: backlog)
        case .inherited(let fd): return try adopt(fd: fd)
        }
    }

    /// True when `fd` is a socket in the listening state.
    public static func isListeningSocket(_ fd: Int32) -> Bool {
        var accepting: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        return getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &accepting, &length) == 0 && accepting != 0
    }

    /// Stops listening here: closes this process's descriptor and removes the socket
    /// file we created. Workers still holding the socket finish on their own.
    public func close() {
        guard !isClosed else { return }
        isClosed = true
        if case .unix(let path) = address, let createdFile {
            var st = stat()
            if lstat(path, &st) == 0, UInt64(st.st_dev) == createdFile.device, UInt64(st.st_ino) == createdFile.inode {
                unlink(path)
            }
        }
        Glibc.close(fd)
    }

    // MARK: unix

    static func openUnix(path: String, backlog: Int32) throws(ListenerError) -> Listener {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        let bytes = Array(path.utf8)
        guard !bytes.isEmpty, bytes.count < capacity, !bytes.contains(0) else {
            throw ListenerError("socket path \"\(path)\" is empty or longer than \(capacity - 1) bytes")
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        try removeStaleSocket(path: path, address: address)

        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw ListenerError("socket(): \(errorText())") }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard bound == 0 else {
            let message = "cannot bind \(path): \(errorText())"
            Glibc.close(fd)
            throw ListenerError(message)
        }
        // Owner and group only (never world-writable): nginx connects as the same
        // user (`make run`) or through the group the responder runs with (the
        // systemd units: Group=www-data), which owns the socket file.
        chmod(path, 0o660)
        guard listen(fd, backlog) == 0 else {
            let message = "cannot listen on \(path): \(errorText())"
            Glibc.close(fd)
            unlink(path)
            throw ListenerError(message)
        }
        var st = stat()
        let identity: (UInt64, UInt64)? = lstat(path, &st) == 0 ? (UInt64(st.st_dev), UInt64(st.st_ino)) : nil
        return Listener(fd: fd, address: .unix(path: path), createdFile: identity)
    }

    /// A socket file left by a responder that died is removed; a live one (something
    /// accepts connections on it) or a file that is not a socket stops start-up.
    static func removeStaleSocket(path: String, address: sockaddr_un) throws(ListenerError) {
        var st = stat()
        if lstat(path, &st) != 0 {
            if errno == ENOENT { return }
            throw ListenerError("cannot inspect \(path): \(errorText())")
        }
        guard st.st_mode & S_IFMT == S_IFSOCK else {
            throw ListenerError("\(path) exists and is not a socket; refusing to replace it")
        }
        let probe = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard probe >= 0 else { throw ListenerError("socket(): \(errorText())") }
        defer { Glibc.close(probe) }
        var address = address
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(probe, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        // EAGAIN: a full backlog, so somebody is listening.
        if connected == 0 || errno == EAGAIN {
            throw ListenerError("another process is already listening on \(path)")
        }
        guard errno == ECONNREFUSED || errno == ENOENT else {
            throw ListenerError("cannot probe the existing socket \(path): \(errorText())")
        }
        if unlink(path) != 0 && errno != ENOENT {
            throw ListenerError("cannot remove the stale socket \(path): \(errorText())")
        }
    }

    // MARK: TCP

    static func openTCP(host: String, port: UInt16, backlog: Int32) throws(ListenerError) -> Listener {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV
        var list: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host.isEmpty ? "0.0.0.0" : host, String(port), &hints, &list)
        guard status == 0, let list else {
            throw ListenerError("cannot resolve \(host): \(String(cString: gai_strerror(status)))")
        }
        defer { freeaddrinfo(list) }
        var lastError = "no address"
        var cursor: UnsafeMutablePointer<addrinfo>? = list
        while let info = cursor {
            cursor = info.pointee.ai_next
            let fd = socket(info.pointee.ai_family, info.pointee.ai_socktype | Int32(SOCK_CLOEXEC.rawValue), info.pointee.ai_protocol)
            guard fd >= 0 else { lastError = errorText(); continue }
            var on: Int32 = 1
            setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, socklen_t(MemoryLayout<Int32>.size))
            if bind(fd, info.pointee.ai_addr, info.pointee.ai_addrlen) == 0, listen(fd, backlog) == 0 {
                return Listener(fd: fd, address: .tcp(host: host, port: port))
            }
            lastError = errorText()
            Glibc.close(fd)
        }
        throw ListenerError("cannot listen on \(ListenAddress.tcp(host: host, port: port)): \(lastError)")
    }

    // MARK: inherited

    /// Takes over a socket we were started with, moving it to a close-on-exec
    /// descriptor; the low descriptor it occupied is pointed at /dev/null.
    static func adopt(fd: Int32) throws(ListenerError) -> Listener {
        guard isListeningSocket(fd) else {
            throw ListenerError("file descriptor \(fd) is not a listening socket")
        }
        let moved = fcntl(fd, F_DUPFD_CLOEXEC, 3)
        guard moved >= 0 else { throw ListenerError("cannot duplicate fd \(fd): \(errorText())") }
        // Standard descriptors stay occupied so that nothing opened later lands on them.
        let null = fd <= 2 ? Glibc.open("/dev/null", O_RDWR | O_CLOEXEC) : -1
        if null >= 0 {
            dup2(null, fd)
            Glibc.close(null)
        } else {
            Glibc.close(fd)
        }
        return Listener(fd: moved, address: .inherited(fd: fd))
    }
}

func errorText(_ code: Int32 = errno) -> String { SystemError.text(code) }
