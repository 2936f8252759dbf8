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
        let checks: [Checked]
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
        for check in answer.checks {
            let exists = lstat(check.path, &st) == 0
            if let identity = check.identity {
                guard exists, SmallFileCache.Identity(st) == identity else { return nil }
            } else if exists || (errno != ENOENT && errno != ENOTDIR) {
                return nil
            }
        }
        return answer.objects
    }

    func keep(_ key: String, _ objects: [ObjectInfo], checks: [Checked]) {
        guard checks.count <= maxChecks else { return }
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
            s.answers[key] = Answer(checks: checks, objects: objects)
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
