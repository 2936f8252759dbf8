#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// The last answers of `LocalStore.list(prefix:fileName:)` (the recordings listing),
/// each with the identity (device, inode, size, mtime and ctime to the nanosecond) of
/// the walk's top directory, of every directory it opened and of every file it returned.
///
/// Validation by the top directory alone (bench/results.md: 401 stats per 200-session
/// listing were most of its kernel time). Every LocalStore write and delete, in any
/// process, moves the timestamps of every directory above the changed file's own
/// directory, up to the root (`LocalStore.touch`), once before publishing and once
/// after; the file's own directory moves by the rename, link, unlink or rmdir itself.
/// So a top directory whose identity is unchanged proves that nothing under it was
/// added, replaced or removed by recstore since the answer was computed:
/// - the answer's top identity was taken (fstat) before any directory was read, and
///   only an identity whose ctime is `settledSeconds` older than the walk's start is
///   kept. A write the walk missed was published after the walk read that directory,
///   so its touch-after came after the walk started, stamping a ctime at least one
///   coarse clock tick later than the kept one: the identity differs. (The kernel sets
///   ctime on every touch and it cannot be set back from user space.)
/// - a writer that crashes between publishing and its touch-after never acknowledged
///   the write, and its touch-before already moved the ctime: a walk that missed the
///   publication but kept an answer must have started ≥ `settledSeconds` after the
///   touch-before, i.e. the writer stalled that long between touching and renaming.
///   For that case, for a failed touch-after (the write then fails too), and for
///   changes made inside a session directory by anything other than recstore (an
///   operator copying or editing a metadata file by hand), every identity kept is
///   checked again at least every `fullCheckSeconds`: such changes show within that.
/// - the memo is per process; this process's own writes and deletes drop all answers.
final class ListingMemo: Sendable {
    struct Checked: Sendable {
        let path: String
        /// nil: the path did not exist (a user without recordings yet).
        let identity: SmallFileCache.Identity?
    }

    private struct Answer {
        /// The walk's top directory (`checks[0]`), and each checked path relative to
        /// it ("" for itself): the full check uses fstatat from one descriptor, so the
        /// kernel resolves two components per check instead of the whole absolute path.
        let base: String
        let checks: [Checked]
        let relative: [String]
        let objects: [ObjectInfo]
        /// CLOCK_MONOTONIC seconds of the last check of every identity.
        var fullyChecked: Double
        let generation: Int
    }

    private struct State {
        var answers: [String: Answer] = [:]
        var checks = 0
        var generation = 0
    }

    let maxChecks: Int
    let settledSeconds: Int
    let fullCheckSeconds: Double
    private let state = Mutex(State())

    init(maxChecks: Int = 200_000, settledSeconds: Int = 2, fullCheckSeconds: Double = 1) {
        self.maxChecks = maxChecks
        self.settledSeconds = settledSeconds
        self.fullCheckSeconds = fullCheckSeconds
    }

    /// CLOCK_REALTIME seconds, taken by the caller before a walk starts: identities are
    /// kept only when settled relative to this moment (see above).
    static func walkStart() -> Int {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return Int(now.tv_sec)
    }

    private static func monotonic() -> Double {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
    }

    /// The kept answer for `key` when its top directory still has its identity (and,
    /// when the last full check is `fullCheckSeconds` old, every path still has its own).
    func answer(_ key: String) -> [ObjectInfo]? {
        guard let answer = state.withLock({ $0.answers[key] }), let top = answer.checks.first else { return nil }
        var st = stat()
        guard Self.matches(top, exists: lstat(answer.base, &st) == 0, st) else { return nil }
        let now = Self.monotonic()
        if now - answer.fullyChecked < fullCheckSeconds { return answer.objects }
        let base = open(answer.base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        defer { if base >= 0 { close(base) } }
        for (check, relative) in zip(answer.checks, answer.relative) {
            let exists = base < 0 ? lstat(check.path, &st) == 0
                : relative.isEmpty ? fstat(base, &st) == 0
                : fstatat(base, relative, &st, AT_SYMLINK_NOFOLLOW) == 0
            guard Self.matches(check, exists: exists, st) else { return nil }
        }
        state.withLock { s in
            if s.answers[key]?.generation == answer.generation { s.answers[key]?.fullyChecked = now }
        }
        return answer.objects
    }

    private static func matches(_ check: Checked, exists: Bool, _ st: stat) -> Bool {
        if let identity = check.identity { return exists && SmallFileCache.Identity(st) == identity }
        return !exists && (errno == ENOENT || errno == ENOTDIR)
    }

    /// Keeps an answer whose walk started at `started` (`walkStart()`); `checks[0]`
    /// must be the top directory, `base`.
    func keep(_ key: String, _ objects: [ObjectInfo], base: String, checks: [Checked], started: Int) {
        guard checks.count <= maxChecks, checks.first?.path == base else { return }
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
        let settled = started - settledSeconds
        guard checks.allSatisfy({ ($0.identity?.ctimeSeconds ?? 0) <= settled }) else { return }
        let now = Self.monotonic()
        state.withLock { s in
            if let old = s.answers.removeValue(forKey: key) { s.checks -= old.checks.count }
            if s.checks + checks.count > maxChecks {
                s.answers.removeAll(keepingCapacity: true)
                s.checks = 0
            }
            s.generation += 1
            s.answers[key] = Answer(base: base, checks: checks, relative: relative, objects: objects,
                                    fullyChecked: now, generation: s.generation)
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
