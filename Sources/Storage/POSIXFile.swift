#if canImport(Glibc)
import Glibc
#endif
import Foundation
import POSIX

/// The local store's view of the shared system calls (`POSIX.FileIO`): every
/// failure that is not the caller's fault becomes `.unavailable`, so a full,
/// read-only or unreadable disk is a 503, never a 500.
enum POSIXFile {
    static func unavailable(_ what: String, _ path: String, _ code: Int32 = errno) -> StorageError {
        unavailable(SystemError(what, path, code: code))
    }

    static func unavailable(_ error: SystemError) -> StorageError { .unavailable(StoreFailure(.other, error.description)) }

    /// Runs `body`, turning a system call's failure into `.unavailable`.
    static func storing<T>(_ body: () throws -> T) throws -> T {
        do { return try body() } catch let error as SystemError { throw unavailable(error) }
    }

    static func open(_ path: String, _ flags: Int32, _ mode: mode_t = 0) -> Int32 {
        FileIO.open(path, flags, mode)
    }

    static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, path: String) throws {
        try storing { try FileIO.writeAll(fd, bytes, path: path) }
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
}
