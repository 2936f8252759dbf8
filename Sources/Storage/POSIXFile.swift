#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// Thin, throwing wrappers over the few system calls the local store needs.
/// Every failure that is not the caller's fault becomes `.unavailable`: a full,
/// read-only or unreadable disk is a 503, never a 500.
enum POSIXFile {
    static func errorText(_ code: Int32 = errno) -> String { String(cString: strerror(code)) }

    static func unavailable(_ what: String, _ path: String, _ code: Int32 = errno) -> StorageError {
        .unavailable("\(what) \(path): \(errorText(code))")
    }

    /// Retries on EINTR.
    static func open(_ path: String, _ flags: Int32, _ mode: mode_t = 0) -> Int32 {
        while true {
            let fd = Glibc.open(path, flags | O_CLOEXEC, mode)
            if fd >= 0 || errno != EINTR { return fd }
        }
    }

    static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, path: String) throws {
        var offset = 0
        while offset < bytes.count {
            let n = Glibc.write(fd, bytes.baseAddress! + offset, bytes.count - offset)
            if n < 0 {
                if errno == EINTR { continue }
                throw unavailable("cannot write", path)
            }
            offset += n
        }
    }

    static func fileStatus(_ fd: Int32, path: String) throws -> stat {
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw unavailable("cannot stat", path) }
        return st
    }

    static func isRegular(_ st: stat) -> Bool { st.st_mode & S_IFMT == S_IFREG }
    static func isDirectory(_ st: stat) -> Bool { st.st_mode & S_IFMT == S_IFDIR }

    /// Makes `path` and any missing parents, mode 0750: nginx serves the files
    /// through the responder's group (the systemd units run it with nginx's group);
    /// other users never see recordings.
    static func makeDirectories(_ path: String) throws {
        var st = stat()
        if stat(path, &st) == 0 {
            guard isDirectory(st) else { throw StorageError.unavailable("not a directory: \(path)") }
            return
        }
        let parent = (path as NSString).deletingLastPathComponent
        if !parent.isEmpty && parent != path && parent != "/" { try makeDirectories(parent) }
        if mkdir(path, 0o750) != 0 && errno != EEXIST { throw unavailable("cannot create directory", path) }
    }

    /// Makes a directory entry durable after a rename, link or unlink in it.
    static func syncDirectory(_ path: String) {
        let fd = open(path, O_RDONLY | O_DIRECTORY)
        guard fd >= 0 else { return }
        _ = fsync(fd)
        close(fd)
    }

    static func randomHex() -> String {
        var g = SystemRandomNumberGenerator()
        let v = g.next() as UInt64
        let s = String(v, radix: 16)
        return String(repeating: "0", count: 16 - s.count) + s
    }
}
