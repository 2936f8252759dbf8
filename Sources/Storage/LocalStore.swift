#if canImport(Glibc)
import Glibc
#endif
import Foundation
import POSIX

/// Keys as paths under a root directory.
///
/// - Keys are checked with `StorageKey` and refused, never cleaned, so no key can
///   name anything outside the root; symbolic links inside the root are not followed.
/// - Writes are atomic: a temporary file in the destination directory (its name
///   holds `~`, which no key may contain, so it is never listed or overwritten),
///   fsync, then rename (or link for create-only), then fsync of the directory.
///   A reader sees the old object or the new one, never part of one.
/// - ETags come from inode, size and mtime (nanoseconds): every write is a new
///   inode, and any process computes the same tag for the same file.
public final class LocalStore: ObjectStore {
    public let kind: StoreKind = .local
    /// Absolute, without a trailing slash.
    public let root: String
    /// Small files read before, served again while their lstat is unchanged.
    let smallFiles: SmallFileCache
    /// Answers of listings by file name, given again while nothing under them changed.
    let listings: ListingMemo

    /// `listingRecheckSeconds`: how old a reused listing's full check may get
    /// (`ListingMemo.fullCheckSeconds`).
    public convenience init(root: String, listingRecheckSeconds: Double = 1) {
        self.init(root: root, smallFiles: SmallFileCache(), listings: ListingMemo(fullCheckSeconds: listingRecheckSeconds))
    }

    init(root: String, smallFiles: SmallFileCache, listings: ListingMemo = ListingMemo()) {
        self.smallFiles = smallFiles
        self.listings = listings
        var path = root
        if !path.hasPrefix("/") {
            path = FileManager.default.currentDirectoryPath + "/" + path
        }
        path = (path as NSString).standardizingPath
        self.root = path
    }

    /// Where uploads are staged before they are renamed into place: inside the
    /// root, so a local save is a rename on one filesystem.
    public var temporaryDirectory: String { root + "/.tmp" }

    // MARK: Paths

    func path(for key: String) throws -> String {
        guard StorageKey.isValid(key) else { throw StorageError.invalidKey(key) }
        return root + "/" + key
    }

    static func directory(of path: String) -> String {
        String(path[..<path.lastIndex(of: "/")!])
    }

    /// inode-size-mtime (ns), in hex; formatted into one buffer (String(radix:) and
    /// concatenation were ~3,400 instructions per read).
    static func etag(_ st: stat) -> String {
        let nanos = Int64(st.st_mtim.tv_sec) * 1_000_000_000 + Int64(st.st_mtim.tv_nsec)
        let parts = (UInt64(st.st_ino), UInt64(bitPattern: Int64(st.st_size)), UInt64(bitPattern: nanos))
        return String(unsafeUninitializedCapacity: 3 * 16 + 2) { out in
            var at = 0
            func hex(_ value: UInt64) {
                let digits = max(1, (64 - value.leadingZeroBitCount + 3) / 4)
                for d in stride(from: digits - 1, through: 0, by: -1) {
                    let nibble = UInt8((value >> UInt64(4 * d)) & 0xF)
                    out[at] = nibble < 10 ? 0x30 + nibble : 0x57 + nibble
                    at += 1
                }
            }
            hex(parts.0)
            out[at] = UInt8(ascii: "-"); at += 1
            hex(parts.1)
            out[at] = UInt8(ascii: "-"); at += 1
            hex(parts.2)
            return at
        }
    }

    static func info(_ key: String, _ st: stat) -> ObjectInfo {
        let mtime = Double(st.st_mtim.tv_sec) + Double(st.st_mtim.tv_nsec) / 1e9
        return ObjectInfo(key: key, size: Int64(st.st_size), lastModified: Date(timeIntervalSince1970: mtime), etag: etag(st))
    }

    // MARK: Writes

    public func put(key: String, bytes: [UInt8], contentType: String, condition: WriteCondition) throws -> ObjectInfo {
        let final = try path(for: key)
        let directory = Self.directory(of: final)
        let (temp, st) = try writeTemporary(in: directory) { (fd, temp) in
            try bytes.withUnsafeBytes { (buffer) in try POSIXFile.writeAll(fd, buffer, path: temp) }
        }
        try commitTemporary(temp, to: final, key: key, condition: condition)
        return Self.info(key, st)
    }

    /// Publishes a temporary file written beside `final`; one that cannot be
    /// published is removed (a failed write leaves nothing behind).
    private func commitTemporary(_ temp: String, to final: String, key: String, condition: WriteCondition) throws {
        do {
            try commit(temp, to: final, key: key, condition: condition)
        } catch {
            unlink(temp)
            throw error
        }
    }

    public func put(key: String, file: StagedFile, contentType: String, condition: WriteCondition) throws -> ObjectInfo {
        let final = try path(for: key)
        let directory = Self.directory(of: final)
        try POSIXFile.makeDirectories(directory)
        // The staged file is renamed (or linked) into place when it is on this
        // filesystem, its data made durable first; from elsewhere it is copied.
        let fd = POSIXFile.open(file.path, O_RDONLY | O_NOFOLLOW)
        guard fd >= 0 else { throw POSIXFile.unavailable("cannot open staged file", file.path) }
        let st: stat
        do {
            defer { close(fd) }
            guard fsync(fd) == 0 else { throw POSIXFile.unavailable("cannot sync", file.path) }
            _ = fchmod(fd, 0o640)
            st = try POSIXFile.fileStatus(fd, path: file.path)
        }
        var directoryStatus = stat()
        guard stat(directory, &directoryStatus) == 0 else { throw POSIXFile.unavailable("cannot stat", directory) }
        if directoryStatus.st_dev == st.st_dev {
            try commit(file.path, to: final, key: key, condition: condition)
            return Self.info(key, st)
        }
        let (temp, copied) = try writeTemporary(in: directory) { (out, temp) in
            try Self.copy(from: file.path, to: out, path: temp)
        }
        try commitTemporary(temp, to: final, key: key, condition: condition)
        return Self.info(key, copied)
    }

    /// Creates a temporary file in `directory`, fills it, makes it durable and
    /// group-readable (0640: the responder's group, which nginx is in, never others); returns its path and status. Removed again on failure.
    func writeTemporary(in directory: String, _ fill: (Int32, String) throws -> Void) throws -> (String, stat) {
        try POSIXFile.makeDirectories(directory)
        func create() throws -> (fd: Int32, path: String) {
            try FileIO.createUnique(in: directory, prefix: ".~tmp.", mode: 0o640, flags: O_NOFOLLOW)
        }
        var created: (fd: Int32, path: String)
        do {
            created = try create()
        } catch let error as SystemError where error.code == ENOENT {
            // A concurrent delete removed the emptied directory: make it again once.
            try POSIXFile.makeDirectories(directory)
            created = try POSIXFile.storing(create)
        } catch let error as SystemError {
            throw POSIXFile.unavailable(error)
        }
        let (fd, temp) = created
        do {
            defer { close(fd) }
            try fill(fd, temp)
            _ = fchmod(fd, 0o640)
            try POSIXFile.storing { try FileIO.sync(fd, path: temp) }
            return (temp, try POSIXFile.fileStatus(fd, path: temp))
        } catch {
            unlink(temp)
            throw error
        }
    }

    static func copy(from source: String, to out: Int32, path: String) throws {
        let input = POSIXFile.open(source, O_RDONLY | O_NOFOLLOW)
        guard input >= 0 else { throw POSIXFile.unavailable("cannot open", source) }
        defer { close(input) }
        var buffer = [UInt8](repeating: 0, count: 256 * 1024)
        while true {
            let n = try POSIXFile.storing {
                try buffer.withUnsafeMutableBytes { (b) in try FileIO.read(input, into: b, path: source) }
            }
            if n == 0 { return }
            try buffer.withUnsafeBytes { (b) in try POSIXFile.writeAll(out, UnsafeRawBufferPointer(rebasing: b[0..<n]), path: path) }
        }
    }

    /// Moves `source` (on this filesystem) to `final` under `condition`. On
    /// failure `source` is left where it was.
    func commit(_ source: String, to final: String, key: String, condition: WriteCondition) throws {
        let directory = Self.directory(of: final)
        let above = ancestors(above: directory)
        // Whatever the outcome, this process never answers from its old copy again.
        defer {
            smallFiles.forget(key)
            listings.forgetAll()
        }
        // A concurrent delete may remove the directory once it is empty: make it again, once.
        func place(replace: Bool) throws -> Bool {
            func attempt() throws -> Bool { try FileIO.place(source, at: final, replace: replace) }
            do {
                return try attempt()
            } catch let error as SystemError where error.code == ENOENT && access(source, F_OK) == 0 {
                try POSIXFile.makeDirectories(directory)
                return try POSIXFile.storing(attempt)
            } catch let error as SystemError {
                throw POSIXFile.unavailable(error)
            }
        }
        if condition == .createOnly {
            // A link fails if the name exists: create-only without a lock.
            try touch(above)
            guard try place(replace: false) else { throw StorageError.alreadyExists(key) }
            FileIO.syncDirectory(directory)
            try touch(above)
            return
        }
        // Overwrites are serialised per directory so that an If-Match check and
        // its rename cannot interleave with another writer (across processes).
        var dirFD = POSIXFile.open(directory, O_RDONLY | O_DIRECTORY)
        if dirFD < 0 && errno == ENOENT {
            try POSIXFile.makeDirectories(directory)
            dirFD = POSIXFile.open(directory, O_RDONLY | O_DIRECTORY)
        }
        guard dirFD >= 0 else { throw POSIXFile.unavailable("cannot open", directory) }
        defer { close(dirFD) }
        try POSIXFile.storing { try FileIO.lockExclusive(dirFD, path: directory) }
        if case .ifMatch(let expected) = condition {
            var st = stat()
            guard lstat(final, &st) == 0, POSIXFile.isRegular(st), Self.etag(st) == expected else {
                throw StorageError.preconditionFailed(key)
            }
        }
        try touch(above)
        _ = try place(replace: true)
        _ = fsync(dirFD)
        try touch(above)
    }

    /// Every directory above `directory` up to the root, nearest first: what a change
    /// of `directory`'s entries must touch so that ListingMemo, which checks only a
    /// listing's top directory, sees it (`directory` itself changes by the change).
    func ancestors(above directory: String) -> [String] {
        var found: [String] = []
        var d = directory
        while d.utf8.count > root.utf8.count, d.hasPrefix(root + "/") {
            d = Self.directory(of: d)
            found.append(d)
        }
        return found
    }

    /// Moves the timestamps (and so the ctime) of `directories` to now, before and
    /// after a file below them is published or removed (ListingMemo says why both).
    /// A directory that does not exist (yet, or any more) needs none: its creation or
    /// removal changes its parent. Any other failure fails the write, which is then
    /// not acknowledged: a listing memo elsewhere could not learn of it.
    func touch(_ directories: [String]) throws {
        for d in directories where utimensat(AT_FDCWD, d, nil, AT_SYMLINK_NOFOLLOW) != 0 && errno != ENOENT {
            throw POSIXFile.unavailable("cannot update the timestamps of", d)
        }
    }

    // MARK: Reads

    /// Opens a regular file for reading; nil when there is none.
    func openExisting(_ key: String) throws -> (Int32, stat)? {
        let p = try path(for: key)
        let fd = POSIXFile.open(p, O_RDONLY | O_NOFOLLOW)
        if fd < 0 {
            switch errno {
            case ENOENT, ENOTDIR, ELOOP: return nil
            default: throw POSIXFile.unavailable("cannot open", p)
            }
        }
        do {
            let st = try POSIXFile.fileStatus(fd, path: p)
            guard POSIXFile.isRegular(st) else { close(fd); return nil }
            return (fd, st)
        } catch {
            close(fd)
            throw error
        }
    }

    public func get(key: String) throws -> (bytes: [UInt8], info: ObjectInfo) {
        // A small file unchanged since this process last read it costs one lstat
        // (SmallFileCache says why that is safe with other writers).
        let p = try path(for: key)
        var current = stat()
        if lstat(p, &current) == 0 {
            if POSIXFile.isRegular(current), let bytes = smallFiles.bytes(key, matching: current) {
                return (bytes, Self.info(key, current))
            }
        } else if errno == ENOENT {
            throw StorageError.notFound(key)  // no need to try opening it as well
        }
        guard let (fd, st) = try openExisting(key) else { throw StorageError.notFound(key) }
        defer { close(fd) }
        var bytes = [UInt8](repeating: 0, count: Int(st.st_size))
        var filled = 0
        while filled < bytes.count {
            let n = try POSIXFile.storing {
                try bytes.withUnsafeMutableBytes { (b) in
                    try FileIO.read(fd, into: b.baseAddress! + filled, count: b.count - filled, at: Int64(filled), path: key)
                }
            }
            if n == 0 { bytes.removeLast(bytes.count - filled); break }
            filled += n
        }
        if st.st_size <= smallFiles.maxFileBytes, let after = try? POSIXFile.fileStatus(fd, path: p) {
            smallFiles.keep(key, bytes, before: st, after: after)
        }
        return (bytes, Self.info(key, st))
    }

    public func getMany(keys: [String]) -> [String: Result<[UInt8], StorageError>] {
        var results: [String: Result<[UInt8], StorageError>] = [:]
        for key in keys {
            do {
                results[key] = .success(try get(key: key).bytes)
            } catch let error as StorageError {
                results[key] = .failure(error)
            } catch {
                results[key] = .failure(.unavailable(StoreFailure(.other, String(describing: error))))
            }
        }
        return results
    }

    public func head(key: String) throws -> ObjectInfo? {
        let p = try path(for: key)
        var st = stat()
        guard lstat(p, &st) == 0 else {
            switch errno {
            case ENOENT, ENOTDIR: return nil
            default: throw POSIXFile.unavailable("cannot stat", p)
            }
        }
        return POSIXFile.isRegular(st) ? Self.info(key, st) : nil
    }

    public func read(key: String, range: ByteRange?, into sink: (UnsafeRawBufferPointer) throws -> Void) throws {
        guard let (fd, st) = try openExisting(key) else { throw StorageError.notFound(key) }
        defer { close(fd) }
        let size = Int64(st.st_size)
        var offset = range?.first ?? 0
        let end = min(size, (range?.last ?? (size - 1)) + 1)
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while offset < end {
            let want = Int(min(Int64(buffer.count), end - offset))
            let n = try POSIXFile.storing {
                try buffer.withUnsafeMutableBytes { (b) in
                    try FileIO.read(fd, into: b.baseAddress!, count: want, at: offset, path: key)
                }
            }
            if n == 0 { break }
            try buffer.withUnsafeBytes { try sink(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
            offset += Int64(n)
        }
    }

    // MARK: Listing and deletion

    public func list(prefix: String) throws -> [ObjectInfo] {
        try list(prefix: prefix, only: nil)
    }

    /// Stats only the files named `fileName`: a listing of recordings needs the
    /// metadata files, not the audio and transcripts beside them.
    public func list(prefix: String, fileName: String) throws -> [ObjectInfo] {
        try list(prefix: prefix, only: fileName)
    }

    func list(prefix: String, only fileName: String?) throws -> [ObjectInfo] {
        guard StorageKey.isValidPrefix(prefix) else { throw StorageError.invalidKey(prefix) }
        // Listings by file name (the recordings listing) are answered again while
        // nothing under the prefix changed (ListingMemo says how that is known).
        let memoKey = fileName.map { prefix + "\u{0}" + $0 }
        if let memoKey, let objects = listings.answer(memoKey) { return objects }
        let started = ListingMemo.walkStart()
        let slash = prefix.lastIndex(of: "/")
        let directoryKey = slash.map { String(prefix[..<$0]) } ?? ""
        let namePrefix = slash.map { String(prefix[prefix.index(after: $0)...]) } ?? prefix
        var found: [ObjectInfo] = []
        var checks: [ListingMemo.Checked]? = memoKey == nil ? nil : []
        try walk(directoryKey, namePrefix: namePrefix, fileName: fileName, into: &found, checks: &checks)
        found.sort { $0.key < $1.key }
        if let memoKey, let checks {
            listings.keep(memoKey, found, base: directoryKey.isEmpty ? root : root + "/" + directoryKey, checks: checks,
                          started: started)
        }
        return found
    }

    /// Collects the regular files under `directoryKey` whose names are valid key
    /// segments (temporary files and anything else foreign are skipped).
    /// With `fileName`, only regular files of that name are collected (and stat'ed).
    /// `checks` (when not nil) collects what ListingMemo needs to know the answer is
    /// still true: each directory's identity as opened (before reading it), each
    /// returned file's, and the paths found missing.
    func walk(_ directoryKey: String, namePrefix: String, fileName: String?, into found: inout [ObjectInfo],
              checks: inout [ListingMemo.Checked]?) throws {
        let directory = directoryKey.isEmpty ? root : root + "/" + directoryKey
        let fd = POSIXFile.open(directory, O_RDONLY | O_DIRECTORY | O_NOFOLLOW)
        if fd < 0 {
            switch errno {
            case ENOENT, ENOTDIR:
                checks?.append(.init(path: directory, identity: nil))
                return
            case ELOOP:
                checks = nil  // a symlink where a directory should be: never memoized
                return
            default: throw POSIXFile.unavailable("cannot open directory", directory)
            }
        }
        if checks != nil {
            var st = stat()
            if fstat(fd, &st) == 0 { checks?.append(.init(path: directory, identity: .init(st))) } else { checks = nil }
        }
        guard let dir = fdopendir(fd) else { close(fd); throw POSIXFile.unavailable("cannot read directory", directory) }
        defer { closedir(dir) }
        var subdirectories: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafePointer(to: entry.pointee.d_name) {
                String(cString: UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self))
            }
            guard name.hasPrefix(namePrefix), StorageKey.isValidSegment(name.utf8) else { continue }
            let type = entry.pointee.d_type
            // d_type spares a stat for what cannot match; DT_UNKNOWN (some
            // filesystems) falls through to the stat below.
            if let fileName, type == UInt8(DT_REG), name != fileName { continue }
            // Segments are checked one at a time on the way down (the prefix's by
            // `list`, each name above); what is left of StorageKey's rules is the
            // top-level dot (the store's own `.tmp`) and the whole key's length.
            if directoryKey.isEmpty, name.utf8.first == UInt8(ascii: ".") { continue }
            let key = directoryKey.isEmpty ? name : directoryKey + "/" + name
            guard key.utf8.count <= StorageKey.maxLength else { continue }
            var st = stat()
            guard fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 else { continue }
            if POSIXFile.isDirectory(st) {
                subdirectories.append(key)
            } else if POSIXFile.isRegular(st), fileName == nil || name == fileName {
                found.append(Self.info(key, st))
                checks?.append(.init(path: root + "/" + key, identity: .init(st)))
            }
        }
        for sub in subdirectories { try walk(sub, namePrefix: "", fileName: fileName, into: &found, checks: &checks) }
    }

    public func delete(prefix: String) throws -> Int {
        // Deleting everything is never what a caller means.
        guard !prefix.isEmpty, !prefix.hasPrefix("/") else { throw StorageError.invalidKey(prefix) }
        defer {
            smallFiles.forget(prefix: prefix)
            listings.forgetAll()
        }
        let objects = try list(prefix: prefix)
        // Touched before the first unlink and after the last rmdir (see `touch`).
        var above = Set<String>()
        for object in objects { above.formUnion(ancestors(above: Self.directory(of: root + "/" + object.key))) }
        let touched = above.sorted { $0.utf8.count > $1.utf8.count }
        try touch(touched)
        var deleted = 0
        var directories = Set<String>()
        for object in objects {
            let p = root + "/" + object.key
            if unlink(p) == 0 {
                deleted += 1
            } else if errno != ENOENT {
                let failure = POSIXFile.unavailable("cannot delete", p)
                try? touch(touched)  // what was removed so far is seen at once all the same
                throw failure
            }
            directories.insert(Self.directory(of: p))
        }
        // Remove the directories the prefix names once they are empty; keep the
        // one it lies in (e.g. the user's directory when a session is deleted).
        var trimmed = prefix
        while trimmed.hasSuffix("/") { trimmed.removeLast() }
        let keep = root + (trimmed.lastIndex(of: "/").map { "/" + String(trimmed[..<$0]) } ?? "")
        var candidates = Set<String>()
        for var d in directories {
            while d.count > keep.count && d.hasPrefix(keep + "/") {
                candidates.insert(d)
                d = Self.directory(of: d)
            }
        }
        for d in candidates.sorted(by: { $0.count > $1.count }) { rmdir(d) }
        for d in Set(candidates.map(Self.directory(of:)) + directories) { FileIO.syncDirectory(d) }
        try touch(touched)
        return deleted
    }

    // MARK: Serving and health

    public func localPath(key: String) -> String? {
        StorageKey.isValid(key) ? root + "/" + key : nil
    }

    public func presignedURL(key: String, seconds: Int) -> String? { nil }

    public func checkReachable() throws {
        try POSIXFile.makeDirectories(root)
        guard access(root, W_OK | X_OK) == 0 else { throw POSIXFile.unavailable("cannot write to", root) }
    }
}
