#if canImport(Glibc)
import Glibc
#endif
import POSIX

/// Starts worker processes with posix_spawn: a fresh image of our own executable,
/// never a fork() of a process whose runtime may already run threads.
struct ProcessSpawner {
    /// The executable to run; `/proc/self/exe` is this very binary.
    let executable: String
    let arguments: [String]
    /// The host metrics region, handed to every worker as `metricsChildFD`.
    var metricsFD: Int32? = nil

    static let metricsChildFD: Int32 = 3

    /// Spawns with `listeningFD` as the child's fd 0, default signal dispositions
    /// and an empty signal mask. Returns the pid or the errno.
    func spawn(listeningFD: Int32, environment: [String: String], extraArguments: [String] = []) -> Result<pid_t, SpawnError> {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, listeningFD, 0)
        if let metricsFD { posix_spawn_file_actions_adddup2(&actions, metricsFD, Self.metricsChildFD) }

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigmask(&attributes, &empty)
        // Handlers do not survive exec, but ignored signals would: reset them all.
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signo in 1..<32 where signo != SIGKILL && signo != SIGSTOP { sigaddset(&defaults, Int32(signo)) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        let argv = (arguments + extraArguments).map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for p in argv { free(p) }
            for p in envp { free(p) }
        }
        var pid: pid_t = 0
        let status = posix_spawn(&pid, executable, &actions, &attributes, argv, envp)
        return status == 0 ? .success(pid) : .failure(SpawnError(code: status))
    }
}

struct SpawnError: Error, CustomStringConvertible {
    let code: Int32
    var description: String { SystemError.text(code) }
}
