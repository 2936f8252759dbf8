#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// The bytes of small files the local store has read, served again only while one
/// `lstat` shows the very same file: same device and inode, size, mtime and ctime to
/// the nanosecond. A hot settings GET is then one `lstat` instead of
/// open + fstat + pread + close and a fresh buffer (bench/results.md, profiling log).
///
/// Why that is safe with other writers (other processes, other hosts sharing the
/// directory in LOCAL mode):
/// - every write through a LocalStore is a new inode renamed into place, so a
///   rewritten key no longer matches;
/// - a file changed in place by anything else changes its ctime (the kernel sets it on
///   every write, and it cannot be set back from user space);
/// - a file is cached only once its ctime is `settledSeconds` in the past: a file
///   still being written within one timestamp tick (ext4 stamps with the kernel's
///   coarse clock) is read from disk each time, as git treats "racily clean" entries;
/// - a read is cached only when `fstat` after reading shows the file unchanged;
/// - this process's own writes and deletes drop the key at once (`forget`).
final class SmallFileCache: Sendable {
    struct Identity: Equatable {
        let device: UInt64, inode: UInt64, size: Int64
        let mtimeSeconds: Int, mtimeNanos: Int, ctimeSeconds: Int, ctimeNanos: Int

        init(_ st: stat) {
            device = UInt64(st.st_dev)
            inode = UInt64(st.st_ino)
            size = Int64(st.st_size)
            mtimeSeconds = Int(st.st_mtim.tv_sec)
            mtimeNanos = Int(st.st_mtim.tv_nsec)
            ctimeSeconds = Int(st.st_ctim.tv_sec)
            ctimeNanos = Int(st.st_ctim.tv_nsec)
        }
    }

    struct Entry {
        let identity: Identity
        let bytes: [UInt8]
    }

    private struct State {
        var entries: [String: Entry] = [:]
        var totalBytes = 0
    }

    /// Files larger than this are always read from disk.
    let maxFileBytes: Int
    let maxTotalBytes: Int
    let settledSeconds: Int
    private let state = Mutex(State())

    init(maxFileBytes: Int = 256 * 1024 + 16 * 1024, maxTotalBytes: Int = 16 << 20, settledSeconds: Int = 2) {
        self.maxFileBytes = maxFileBytes
        self.maxTotalBytes = maxTotalBytes
        self.settledSeconds = settledSeconds
    }

    /// The cached bytes when `st` (an lstat of the path just now) is the cached file.
    func bytes(_ key: String, matching st: stat) -> [UInt8]? {
        let identity = Identity(st)
        return state.withLock { s in
            guard let entry = s.entries[key] else { return nil }
            return entry.identity == identity ? entry.bytes : nil
        }
    }

    /// Keeps `bytes`, read from the file `before` and `after` describe (fstat before
    /// and after the read), when the file did not change meanwhile and has settled.
    func keep(_ key: String, _ bytes: [UInt8], before: stat, after: stat) {
        let identity = Identity(before)
        guard bytes.count <= maxFileBytes, Identity(after) == identity, Int64(bytes.count) == identity.size else { return }
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        guard identity.ctimeSeconds + settledSeconds <= Int(now.tv_sec) else { return }
        state.withLock { s in
            if let old = s.entries.removeValue(forKey: key) { s.totalBytes -= old.bytes.count }
            // Bounded: a full cache starts over (the hot keys come back at once).
            if s.totalBytes + bytes.count > maxTotalBytes {
                s.entries.removeAll(keepingCapacity: true)
                s.totalBytes = 0
            }
            s.entries[key] = Entry(identity: identity, bytes: bytes)
            s.totalBytes += bytes.count
        }
    }

    /// This process wrote or deleted `key`: never answer from the old copy.
    func forget(_ key: String) {
        state.withLock { s in
            if let old = s.entries.removeValue(forKey: key) { s.totalBytes -= old.bytes.count }
        }
    }

    /// Everything under `prefix` (a delete by prefix).
    func forget(prefix: String) {
        state.withLock { s in
            for key in s.entries.keys where key.hasPrefix(prefix) {
                if let old = s.entries.removeValue(forKey: key) { s.totalBytes -= old.bytes.count }
            }
        }
    }

    var count: Int { state.withLock { $0.entries.count } }
}
