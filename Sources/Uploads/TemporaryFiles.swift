#if canImport(Glibc)
import Glibc
#endif
import Diagnostics
import POSIX
import HTTP

/// Temporary upload files, named `upload-<pid>-<start>-<random>.part` after the process
/// that writes them (`start`: its start time, so a recycled pid is not taken for the
/// writer), which lets `sweep` tell a dead worker's leftovers from live uploads.
public enum TemporaryFiles {
    static let prefix = "upload-", suffix = ".part"

    /// Creates a new empty file in `directory` (made if missing, mode 0700) with O_EXCL
    /// and mode 0600, open for writing. Fails with 503: the disk is the server's problem.
    static func create(in directory: String) throws -> (fd: Int32, path: String) {
        let me = ProcessIdentity.current
        func create() throws -> (fd: Int32, path: String) {
            try FileIO.createUnique(in: directory, prefix: prefix + "\(me.pid)-\(me.start)-", suffix: suffix, mode: 0o600)
        }
        do {
            do {
                return try create()
            } catch let error as SystemError where error.code == ENOENT && (mkdir(directory, 0o700) == 0 || errno == EEXIST) {
                return try create()
            }
        } catch {
            let code = (error as? SystemError)?.code ?? EIO
            Log.error("cannot create a temporary upload file", ["directory": directory, "error": SystemError.text(code)])
            throw HTTPError.unavailable("temporary storage for uploads is unavailable")
        }
    }

    /// Removes the upload files in `directory` whose writer is gone (a crashed or
    /// killed worker); returns how many. Files of live processes are kept.
    @discardableResult
    public static func sweep(directory: String) -> Int {
        guard let dir = opendir(directory) else { return 0 }
        defer { closedir(dir) }
        var removed = 0
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            guard let writer = writer(ofFileNamed: name), !writer.isRunning else { continue }
            let path = directory + "/" + name
            var info = stat()
            guard lstat(path, &info) == 0, info.st_mode & S_IFMT == S_IFREG else { continue }
            if unlink(path) == 0 { removed += 1 }
        }
        if removed > 0 { Log.info("removed leftover upload files", ["directory": directory, "count": removed]) }
        return removed
    }

    /// The process that named a file, or nil when the name is not one of ours.
    static func writer(ofFileNamed name: String) -> ProcessIdentity? {
        guard name.hasPrefix(prefix), name.hasSuffix(suffix) else { return nil }
        let fields = name.dropFirst(prefix.count).dropLast(suffix.count).split(separator: "-", omittingEmptySubsequences: false)
        guard fields.count == 3, let pid = pid_t(fields[0]), pid > 0, let start = UInt64(fields[1]),
              fields[2].count == 16, fields[2].allSatisfy(\.isHexDigit) else { return nil }
        return ProcessIdentity(pid: pid, start: start)
    }
}

/// A process id with its start time (clock ticks after boot, from /proc; 0 where
/// there is no /proc), which together name one process even after its pid is reused.
struct ProcessIdentity: Equatable {
    let pid: pid_t
    let start: UInt64

    static var current: ProcessIdentity {
        let pid = getpid()
        return ProcessIdentity(pid: pid, start: startTime(of: pid) ?? 0)
    }

    /// Whether that very process still runs (a zombie does not count).
    var isRunning: Bool {
        #if os(Linux)
        return Self.startTime(of: pid) == start
        #else
        return kill(pid, 0) == 0 || errno == EPERM
        #endif
    }

    /// Field 22 of /proc/<pid>/stat; nil when there is no such live process.
    static func startTime(of pid: pid_t) -> UInt64? {
        #if os(Linux)
        let path = "/proc/\(pid)/stat"
        let fd = FileIO.open(path, O_RDONLY)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 1024)
        guard let n = try? buffer.withUnsafeMutableBytes({ (b) in try FileIO.read(fd, into: b, path: path) }),
              n > 0 else { return nil }
        // The command name (field 2) is in parentheses and may hold spaces and `)`:
        // the fields after it start after the last `)`.
        let text = buffer[0..<n]
        guard let close = text.lastIndex(of: UInt8(ascii: ")")) else { return nil }
        let fields = text[(close + 1)...].split(separator: 0x20)
        // fields[0] is field 3 (state), so field 22 is fields[19].
        guard fields.count > 19, fields[0].first != UInt8(ascii: "Z") else { return nil }
        return UInt64(String(decoding: fields[19], as: UTF8.self))
        #else
        return 0
        #endif
    }
}
