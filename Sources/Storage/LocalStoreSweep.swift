#if canImport(Glibc)
import Glibc
#endif
import Foundation

extension LocalStore: LeftoverCleaning {
    /// Removes the store's temporary files (`.~tmp.*`, see `writeTemporary`) older
    /// than `age`: a worker killed between writing one and renaming it leaves it
    /// behind, never listed, taking space. The staging directory (`.tmp`) is not
    /// walked: live uploads stage there, and it is swept when a worker starts.
    public func removeStaleLeftovers(olderThan age: Double, now: Date) throws -> Int {
        var removed = 0
        removeStaleTemporaryFiles(in: root, olderThan: now.timeIntervalSince1970 - age, depth: 0, removed: &removed)
        return removed
    }

    func removeStaleTemporaryFiles(in directory: String, olderThan cutoff: Double, depth: Int, removed: inout Int) {
        guard depth < 8 else { return }  // the layout is three levels deep
        let fd = POSIXFile.open(directory, O_RDONLY | O_DIRECTORY | O_NOFOLLOW)
        guard fd >= 0, let dir = fdopendir(fd) else {
            if fd >= 0 { close(fd) }
            return
        }
        defer { closedir(dir) }
        var subdirectories: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafePointer(to: entry.pointee.d_name) {
                String(cString: UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self))
            }
            if name == "." || name == ".." || (depth == 0 && name == ".tmp") { continue }
            var st = stat()
            guard fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 else { continue }
            if POSIXFile.isDirectory(st) {
                subdirectories.append(directory + "/" + name)
            } else if POSIXFile.isRegular(st), name.hasPrefix(".~tmp."), Double(st.st_mtim.tv_sec) < cutoff {
                if unlinkat(fd, name, 0) == 0 { removed += 1 }
            }
        }
        for sub in subdirectories { removeStaleTemporaryFiles(in: sub, olderThan: cutoff, depth: depth + 1, removed: &removed) }
    }
}
