#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// The last answers of `LocalStore.list(prefix:fileName:)` (the recordings listing),
/// each with the identity of every directory the walk opened and every file it
/// returned. While an `lstat` of each shows the same identities (device, inode, size,
/// mtime and ctime to the nanosecond), nothing was added, removed, renamed or
/// rewritten under the prefix, and the same answer is returned without opening or
/// reading a directory (bench/results.md: the walk was half of a listing's cost).
///
/// A directory's mtime and ctime move with every entry added, removed or renamed in
/// it; a file's ctime with any write. As in SmallFileCache, an answer is kept only
/// when every identity has settled (ctime `settledSeconds` in the past), so two
/// changes within one timestamp tick cannot hide each other, and every write or
/// delete this process makes drops all answers.
final class ListingMemo: Sendable {
    struct Checked: Sendable {
        let path: String
        /// nil: the path did not exist (a user without recordings yet).
        let identity: SmallFileCache.Identity?
    }

    private struct Answer {
        /// The walk's top directory, and each checked path relative to it ("" for
        /// itself): checked with fstatat from one descriptor, so the kernel resolves
        /// two components per check instead of the whole absolute path.
        let base: String
        let checks: [Checked]
        let relative: [String]
        let objects: [ObjectInfo]
    }

    private struct State {
        var answers: [String: Answer] = [:]
        var checks = 0
    }

    let maxChecks: Int
    let settledSeconds: Int
    private let state = Mutex(State())

    init(maxChecks: Int = 200_000, settledSeconds: Int = 2) {
        self.maxChecks = maxChecks
        self.settledSeconds = settledSeconds
    }

    /// The kept answer for `key` when every path still has its identity.
    func answer(_ key: String) -> [ObjectInfo]? {
        guard let answer = state.withLock({ $0.answers[key] }) else { return nil }
        var st = stat()
        let base = open(answer.base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        defer { if base >= 0 { close(base) } }
        for (check, relative) in zip(answer.checks, answer.relative) {
            let exists = base < 0 ? lstat(check.path, &st) == 0
                : relative.isEmpty ? fstat(base, &st) == 0
                : fstatat(base, relative, &st, AT_SYMLINK_NOFOLLOW) == 0
            if let identity = check.identity {
                guard exists, SmallFileCache.Identity(st) == identity else { return nil }
            } else if exists || (errno != ENOENT && errno != ENOTDIR) {
                return nil
            }
        }
        return answer.objects
    }

    func keep(_ key: String, _ objects: [ObjectInfo], base: String, checks: [Checked]) {
        guard checks.count <= maxChecks else { return }
        var relative: [String] = []
        relative.reserveCapacity(checks.count)
        for check in checks {
            if check.path == base {
                relative.append("")
            } else if check.path.hasPrefix(base + "/") {
                relative.append(String(check.path.utf8.dropFirst(base.utf8.count + 1))!)
            } else {
                return  // not under the walk's top: never expected, never memoized
            }
        }
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        let settled = Int(now.tv_sec) - settledSeconds
        guard checks.allSatisfy({ ($0.identity?.ctimeSeconds ?? 0) <= settled }) else { return }
        state.withLock { s in
            if let old = s.answers.removeValue(forKey: key) { s.checks -= old.checks.count }
            if s.checks + checks.count > maxChecks {
                s.answers.removeAll(keepingCapacity: true)
                s.checks = 0
            }
            s.answers[key] = Answer(base: base, checks: checks, relative: relative, objects: objects)
            s.checks += checks.count
        }
    }

    /// This process changed something under the root.
    func forgetAll() {
        state.withLock { s in
            s.answers.removeAll(keepingCapacity: true)
            s.checks = 0
        }
    }

    var count: Int { state.withLock { $0.answers.count } }
}
