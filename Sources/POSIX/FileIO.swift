#if canImport(Glibc)
import Glibc
#endif
import Hex

/// The file system calls the modules share, each retried on EINTR once and for all
/// here instead of at every call site. Descriptors are opened close-on-exec.
public enum FileIO {
    /// open(2) with O_CLOEXEC; -1 with errno set on failure (callers switch on errno,
    /// e.g. ENOENT is often an answer, not an error).
    public static func open(_ path: String, _ flags: Int32, _ mode: mode_t = 0) -> Int32 {
        while true {
            let fd = Glibc.open(path, flags | O_CLOEXEC, mode)
            if fd >= 0 || errno != EINTR { return fd }
        }
    }

    /// Writes every byte (short writes continued). `path` only names the file in the error.
    /// Like every call here, throws `SystemError`.
    public static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, path: String) throws {
        var offset = 0
        while offset < bytes.count {
            let n = Glibc.write(fd, bytes.baseAddress! + offset, bytes.count - offset)
            if n < 0 {
                if errno == EINTR { continue }
                throw SystemError("cannot write", path)
            }
            // write(2) returns 0 for a non-empty buffer only on a broken device: do not spin.
            if n == 0 { throw SystemError("cannot write", path, code: EIO) }
            offset += n
        }
    }

    /// read(2) into `buffer`; 0 at the end of the file.
    public static func read(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer, path: String) throws -> Int {
        while true {
            let n = Glibc.read(fd, buffer.baseAddress, buffer.count)
            if n >= 0 { return n }
            if errno != EINTR { throw SystemError("cannot read", path) }
        }
    }

    /// pread(2) of up to `count` bytes at `offset`; 0 at the end of the file.
    public static func read(_ fd: Int32, into buffer: UnsafeMutableRawPointer, count: Int, at offset: Int64, path: String) throws -> Int {
        while true {
            let n = Glibc.pread(fd, buffer, count, off_t(offset))
            if n >= 0 { return n }
            if errno != EINTR { throw SystemError("cannot read", path) }
        }
    }

    /// fsync(2).
    public static func sync(_ fd: Int32, path: String) throws {
        guard fsync(fd) == 0 else { throw SystemError("cannot sync", path) }
    }

    /// flock(2) LOCK_EX, waiting for the lock.
    public static func lockExclusive(_ fd: Int32, path: String) throws {
        while flock(fd, LOCK_EX) != 0 {
            if errno != EINTR { throw SystemError("cannot lock", path) }
        }
    }

    /// Makes a directory entry durable after a rename, link or unlink in it
    /// (best effort: a directory that cannot be opened has nothing to sync).
    public static func syncDirectory(_ path: String) {
        let fd = open(path, O_RDONLY | O_DIRECTORY)
        guard fd >= 0 else { return }
        _ = fsync(fd)
        Glibc.close(fd)
    }

    /// 16 random lowercase hex digits, for names no other writer picks.
    public static func randomName() -> String {
        var generator = SystemRandomNumberGenerator()
        return Hex.encode(padded: generator.next() as UInt64)
    }

    /// Creates a new file `directory/<prefix><16 random hex digits><suffix>` with
    /// O_EXCL (so never anybody else's), open for writing with `mode` from the start.
    /// A name taken already is retried with another; ENOENT (no such directory) is
    /// thrown at once for the caller to make the directory and call again.
    public static func createUnique(in directory: String, prefix: String, suffix: String = "",
                                    mode: mode_t, flags: Int32 = 0) throws -> (fd: Int32, path: String) {
        var attempts = 0
        while true {
            let path = directory + "/" + prefix + randomName() + suffix
            let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | flags, mode)
            if fd >= 0 { return (fd, path) }
            let code = errno
            attempts += 1
            if code == EEXIST && attempts < 8 { continue }
            throw SystemError("cannot create", path, code: code)
        }
    }

    /// Puts the finished file `source` at `destination` in one step, so that a reader
    /// sees the old file or the new one, never part of one: rename(2) when `replace`,
    /// else link(2), which fails if the name exists (create-only without a lock) and is
    /// followed by removing `source`. Returns false when `replace` is off and something
    /// already is there. The caller syncs the directory (`syncDirectory`) when done.
    public static func place(_ source: String, at destination: String, replace: Bool) throws -> Bool {
        if replace {
            guard rename(source, destination) == 0 else { throw SystemError("cannot rename into", destination) }
            return true
        }
        guard link(source, destination) == 0 else {
            if errno == EEXIST { return false }
            throw SystemError("cannot link", destination)
        }
        unlink(source)
        return true
    }

    /// The whole publish of a small file: a temporary file beside `path` with `mode`,
    /// the bytes, fsync, `place`, fsync of the directory. Nothing half-written is ever
    /// at `path`, and no temporary file is left behind. False when `replace` is off and
    /// `path` exists.
    public static func publish(_ bytes: [UInt8], at path: String, mode: mode_t, replace: Bool) throws -> Bool {
        let slash = path.lastIndex(of: "/")
        let directory = slash.map { $0 == path.startIndex ? "/" : String(path[..<$0]) } ?? "."
        let name = slash.map { String(path[path.index(after: $0)...]) } ?? path
        let (fd, temporary) = try createUnique(in: directory, prefix: "." + name + ".tmp.", mode: mode)
        defer { unlink(temporary) }
        do {
            defer { Glibc.close(fd) }
            // withUnsafeBytes only rethrows untyped errors: carry the typed one out.
            let failure = bytes.withUnsafeBytes { (buffer) -> SystemError? in
                do { try writeAll(fd, buffer, path: temporary); return nil } catch { return error as? SystemError ?? SystemError("cannot write", temporary) }
            }
            if let failure { throw failure }
            try sync(fd, path: temporary)
        }
        guard try place(temporary, at: path, replace: replace) else { return false }
        syncDirectory(directory)
        return true
    }
}
