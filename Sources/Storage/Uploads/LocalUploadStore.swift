#if canImport(Glibc)
import Glibc
#endif
import Diagnostics
import Foundation
import POSIX

/// Resumable uploads on local disk, under `LOCAL_STORAGE_DIR/.uploads` (outside the
/// recording layout: a top-level dot is never a key, so nothing here is ever listed):
/// `{id}.data` holds the bytes, `{id}.info` the record.
///
/// - An append holds an exclusive `flock` on the data file for its whole length;
///   a second append finds it taken and is refused (409) at once, never waiting.
/// - Bytes are `pwrite`n at the stored offset and fsync'd before the record that
///   counts them is replaced (temp file, fsync, rename): the stored offset never
///   counts a byte that is not durable. A crash mid-append leaves bytes past the
///   offset, which the next append overwrites.
/// - A save links the data file into the recording layout (same filesystem).
public final class LocalUploadStore: UploadStore {
    /// Absolute.
    public let directory: String

    public init(root: String) {
        directory = LocalStore(root: root).root + "/.uploads"
    }

    func dataPath(_ id: String) -> String { directory + "/" + id + ".data" }
    func infoPath(_ id: String) -> String { directory + "/" + id + ".info" }

    func ensureDirectory() throws {
        var st = stat()
        if stat(directory, &st) == 0 { return }
        try POSIXFile.makeDirectories(LocalStore.directory(of: directory))
        if mkdir(directory, 0o700) != 0 && errno != EEXIST { throw POSIXFile.unavailable("cannot create directory", directory) }
    }

    public func create(_ record: UploadRecord) throws {
        guard UploadID.isValid(record.id) else { throw StorageError.invalidKey(record.id) }
        try ensureDirectory()
        let fd = POSIXFile.open(dataPath(record.id), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o600)
        guard fd >= 0 else {
            if errno == EEXIST { throw StorageError.alreadyExists(record.id) }
            throw POSIXFile.unavailable("cannot create", dataPath(record.id))
        }
        close(fd)
        do {
            try writeRecord(record)
        } catch {
            unlink(dataPath(record.id))
            throw error
        }
    }

    /// Replaces the record atomically and durably.
    func writeRecord(_ record: UploadRecord) throws {
        let temp = directory + "/.~tmp." + FileIO.randomName()
        let fd = POSIXFile.open(temp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o600)
        guard fd >= 0 else { throw POSIXFile.unavailable("cannot create", temp) }
        do {
            defer { close(fd) }
            try record.bytes.withUnsafeBytes { try POSIXFile.writeAll(fd, $0, path: temp) }
            guard fsync(fd) == 0 else { throw POSIXFile.unavailable("cannot sync", temp) }
        } catch {
            unlink(temp)
            throw error
        }
        guard rename(temp, infoPath(record.id)) == 0 else {
            let code = errno
            unlink(temp)
            throw POSIXFile.unavailable("cannot rename into", infoPath(record.id), code)
        }
        FileIO.syncDirectory(directory)
    }

    public func record(id: String) throws -> UploadRecord? {
        guard UploadID.isValid(id) else { return nil }
        let path = infoPath(id)
        let fd = POSIXFile.open(path, O_RDONLY | O_NOFOLLOW)
        if fd < 0 {
            if errno == ENOENT || errno == ENOTDIR { return nil }
            throw POSIXFile.unavailable("cannot open", path)
        }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16 * 1024)
        while true {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress!, $0.count) }
            if n < 0 { if errno == EINTR { continue }; throw POSIXFile.unavailable("cannot read", path) }
            if n == 0 { break }
            bytes += chunk[0..<n]
            if bytes.count > 1024 * 1024 { break }
        }
        guard let record = UploadRecord(bytes: bytes), record.id == id else {
            Log.error("unreadable upload record", ["path": path])
            return nil
        }
        return record
    }

    public func append(id: String, owner: String, at offset: Int64, now: Date, expires: Date,
                       readBody: (UnsafeMutableRawBufferPointer) throws -> Int) throws -> UploadRecord {
        guard UploadID.isValid(id) else { throw UploadRefusal.notFound }
        let path = dataPath(id)
        let fd = POSIXFile.open(path, O_WRONLY | O_NOFOLLOW)
        if fd < 0 {
            if errno == ENOENT { throw UploadRefusal.notFound }
            throw POSIXFile.unavailable("cannot open", path)
        }
        defer { close(fd) }
        while flock(fd, LOCK_EX | LOCK_NB) != 0 {
            if errno == EINTR { continue }
            if errno == EWOULDBLOCK { throw UploadRefusal.busy }
            throw POSIXFile.unavailable("cannot lock", path)
        }
        // Read under the lock: the record another append just replaced, or none if
        // the upload was removed meanwhile.
        guard var record = try record(id: id), record.owner == owner, record.expires > now else { throw UploadRefusal.notFound }
        guard record.offset == offset else { throw UploadRefusal.offsetMismatch(stored: record.offset) }
        let before = record

        var buffer = [UInt8](repeating: 0, count: 256 * 1024)
        var bodyError: Error?
        while true {
            let n: Int
            do {
                n = try buffer.withUnsafeMutableBytes { try readBody($0) }
            } catch {
                bodyError = error
                break
            }
            if n == 0 { break }
            guard Int64(n) <= record.length - record.offset else { throw UploadRefusal.pastLength(length: record.length) }
            try buffer.withUnsafeBytes { raw in
                let chunk = UnsafeRawBufferPointer(rebasing: raw[0..<n])
                var done = 0
                while done < n {
                    let w = pwrite(fd, chunk.baseAddress! + done, n - done, off_t(record.offset + Int64(done)))
                    if w < 0 {
                        if errno == EINTR { continue }
                        throw POSIXFile.unavailable("cannot write", path)
                    }
                    done += w
                }
                record.absorb(chunk)
            }
        }
        if record.offset != before.offset || bodyError == nil {
            guard fsync(fd) == 0 else { throw POSIXFile.unavailable("cannot sync", path) }
            // Terminated meanwhile (DELETE does not wait for an append): stay gone.
            var st = stat()
            guard fstat(fd, &st) == 0, st.st_nlink > 0 else { throw UploadRefusal.notFound }
            record.expires = expires
            try writeRecord(record)
        }
        if let bodyError {
            Log.info("upload interrupted; the bytes that arrived are kept", ["upload_id": id, "offset": record.offset])
            throw bodyError
        }
        return record
    }

    /// A second link to the data file, which the local store links into place and
    /// unlinks: the upload itself stays whole until `remove`, so a save that fails
    /// half-way (or a 409) leaves it as it was. A link left by a crash is swept.
    public func content(of record: UploadRecord) throws -> NewObject.Content {
        let link = directory + "/.~tmp." + FileIO.randomName()
        guard Glibc.link(dataPath(record.id), link) == 0 else {
            if errno == ENOENT { throw StorageError.notFound(record.id) }
            throw POSIXFile.unavailable("cannot link", dataPath(record.id))
        }
        return .file(StagedFile(path: link, size: record.length, sha256: record.hash.hexDigest()))
    }

    public func remove(id: String) throws {
        guard UploadID.isValid(id) else { return }
        // The record first: without it the upload no longer exists for anyone.
        if unlink(infoPath(id)) != 0 && errno != ENOENT { throw POSIXFile.unavailable("cannot delete", infoPath(id)) }
        if unlink(dataPath(id)) != 0 && errno != ENOENT { throw POSIXFile.unavailable("cannot delete", dataPath(id)) }
        FileIO.syncDirectory(directory)
    }

    /// Expired uploads, and leftovers of interrupted writes (a record's temp file, a
    /// data file whose record never landed) older than a minute.
    public func sweep(now: Date) throws -> Int {
        guard let dir = opendir(directory) else { return 0 }
        var names: [String] = []
        while let entry = readdir(dir) {
            names.append(withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) })
        }
        closedir(dir)
        var removed = 0
        let present = Set(names)
        for name in names {
            if name.hasSuffix(".info") {
                let id = String(name.dropLast(5))
                guard let record = try record(id: id), record.expires <= now else { continue }
                try remove(id: id)
                removed += 1
            } else if name.hasPrefix(".~tmp.") || (name.hasSuffix(".data") && !present.contains(String(name.dropLast(5)) + ".info")) {
                var st = stat()
                let path = directory + "/" + name
                guard lstat(path, &st) == 0, Double(st.st_mtim.tv_sec) < now.timeIntervalSince1970 - 60 else { continue }
                unlink(path)
            }
        }
        if removed > 0 { Log.info("expired uploads removed", ["count": removed, "store": "local"]) }
        return removed
    }
}
