#if canImport(Glibc)
import Glibc
#endif
import Diagnostics
import POSIX

/// The process manager: keeps `workers` worker processes accepting on one
/// listening socket.
///
/// - A worker that exits is replaced (at once; with backoff when it keeps dying).
/// - SIGTERM / SIGINT: stop listening, ask every worker to finish its requests
///   (SIGTERM), wait up to the grace period (then SIGKILL), return 0.
/// - SIGHUP: read the configuration again; when it is valid, start a new set of
///   workers with it and retire the old ones gracefully; when not, keep running
///   as before and log why.
public final class Supervisor {
    public struct Options: Sendable {
        public var workers: Int
        /// The worker's argv, starting with argv[0].
        public var workerArguments: [String]
        public var executable = "/proc/self/exe"
        /// Seconds a stopping worker may take to finish its requests.
        public var gracePeriod: Double = 30
        public var restartPolicy = RestartPolicy()
        /// The host metrics region: each worker gets it on fd 3 with its slot
        /// (`--metrics-fd 3 --metrics-slot N`) and its pool slot (`--slot N`).
        public var metrics: HostMetrics?

        public init(workers: Int, workerArguments: [String]) {
            self.workers = max(1, workers)
            self.workerArguments = workerArguments
        }
    }

    private struct Slot {
        var pid: pid_t?
        var started: Double = 0
        var failures = 0
        /// When to start this slot's worker; nil while one runs.
        var startAt: Double? = 0
    }

    private let listeningFD: Int32
    private let options: Options
    private let spawner: ProcessSpawner
    private var environment: [String: String]
    private let reloadEnvironment: () -> Result<[String: String], ReloadRefused>
    private let stopListening: () -> Void

    private var slots: [Slot]
    /// Workers of a previous configuration, finishing their requests: pid → SIGKILL deadline.
    private var retiring: [pid_t: Double] = [:]
    /// Every live worker's slot in the metrics region.
    private var metricsSlots: [pid_t: Int] = [:]
    private var stopping = false
    private var stopDeadline = Double.infinity

    public struct ReloadRefused: Error, CustomStringConvertible {
        public let description: String
        public init(_ description: String) { self.description = description }
    }

    /// - Parameters:
    ///   - environment: the workers' environment.
    ///   - reloadEnvironment: on SIGHUP, the new environment, or why it is refused.
    ///   - stopListening: called once when stopping begins (close the socket, remove its file).
    public init(listeningFD: Int32, options: Options, environment: [String: String],
                reloadEnvironment: @escaping () -> Result<[String: String], ReloadRefused>,
                stopListening: @escaping () -> Void) {
        self.listeningFD = listeningFD
        self.options = options
        self.spawner = ProcessSpawner(executable: options.executable, arguments: options.workerArguments,
                                      metricsFD: options.metrics?.fd)
        self.environment = environment
        self.reloadEnvironment = reloadEnvironment
        self.stopListening = stopListening
        self.slots = Array(repeating: Slot(), count: options.workers)
    }

    /// Runs until stopped by SIGTERM or SIGINT; returns the exit status (0).
    public func run() -> Int32 {
        guard let signals = SignalRouting.makePipe() else {
            Log.error("cannot create the signal pipe", ["error": SystemError.text()])
            return 1
        }
        SignalRouting.route([SIGTERM, SIGINT, SIGHUP, SIGCHLD], to: signals.write)
        SignalRouting.ignore([SIGPIPE])
        Log.info("supervisor started", ["workers": options.workers])
        startDueWorkers(now: Self.now())

        while true {
            var pfd = pollfd(fd: signals.read, events: Int16(POLLIN), revents: 0)
            _ = poll(&pfd, 1, timeoutMilliseconds(now: Self.now()))
            for signo in Self.readSignals(signals.read) {
                switch signo {
                case SIGTERM, SIGINT: beginStop(signal: signo)
                case SIGHUP: reload()
                default: break
                }
            }
            reapChildren()
            let now = Self.now()
            if stopping {
                if slots.allSatisfy({ $0.pid == nil }) && retiring.isEmpty { break }
                if now >= stopDeadline {
                    Log.warning("grace period over: killing the workers still running",
                                ["worker_pids": runningPids().map(String.init).joined(separator: ",")])
                    for pid in runningPids() { kill(pid, SIGKILL) }
                    stopDeadline = .infinity
                }
            } else {
                startDueWorkers(now: now)
                for (pid, deadline) in retiring where now >= deadline {
                    Log.warning("retired worker overran the grace period: killed", ["worker_pid": Int(pid)])
                    kill(pid, SIGKILL)
                    retiring[pid] = .infinity
                }
            }
        }
        Log.info("supervisor stopped")
        return 0
    }

    // MARK: events

    private func beginStop(signal signo: Int32) {
        guard !stopping else { return }
        stopping = true
        stopListening()
        let pids = runningPids()
        for pid in pids { kill(pid, SIGTERM) }
        for i in slots.indices { slots[i].startAt = nil }
        stopDeadline = Self.now() + options.gracePeriod
        Log.info("stopping: workers finish their requests", ["signal": signo == SIGINT ? "SIGINT" : "SIGTERM",
                                                              "workers": pids.count, "grace_seconds": options.gracePeriod])
    }

    private func reload() {
        guard !stopping else { return }
        switch reloadEnvironment() {
        case .failure(let refused):
            Log.error("reload refused; the running workers keep the previous configuration", ["error": refused.description])
        case .success(let newEnvironment):
            environment = newEnvironment
            let now = Self.now()
            let previous = slots.compactMap(\.pid)
            slots = Array(repeating: Slot(startAt: now), count: options.workers)
            // New workers first, so someone is always accepting.
            startDueWorkers(now: now)
            for pid in previous {
                if let slot = metricsSlots[pid] { options.metrics?.retire(slot: slot) }
                retiring[pid] = now + options.gracePeriod
                kill(pid, SIGTERM)
            }
            Log.info("reloaded: new workers started, previous ones retiring", ["retiring": previous.count])
        }
    }

    private func reapChildren() {
        while true {
            var status: Int32 = 0
            var usage = rusage()
            let pid = wait4(-1, &status, WNOHANG, &usage)
            if pid <= 0 { return }
            if let slot = metricsSlots.removeValue(forKey: pid) {
                // Its CPU time stays in the host's total; its busy threads are not busy any more.
                let cpu = Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1e6
                    + Double(usage.ru_stime.tv_sec) + Double(usage.ru_stime.tv_usec) / 1e6
                options.metrics?.exited(slot: slot, cpuSeconds: cpu)
            }
            childExited(pid: pid, status: status)
        }
    }

    private func childExited(pid: pid_t, status: Int32) {
        let how = Self.describe(status)
        if retiring.removeValue(forKey: pid) != nil {
            Log.info("retired worker exited", ["worker_pid": Int(pid), "status": how])
            return
        }
        guard let i = slots.firstIndex(where: { $0.pid == pid }) else { return }
        let now = Self.now()
        let uptime = now - slots[i].started
        slots[i].pid = nil
        let termination = status & 0x7f
        let cleanExit = termination == 0 && (status >> 8) & 0xff == 0
        if stopping {
            Log.info("worker stopped", ["worker_pid": Int(pid), "status": how])
            return
        }
        options.metrics?.workerRestarted()
        let delay = options.restartPolicy.delay(crashed: !cleanExit, uptime: uptime, recentFailures: &slots[i].failures)
        slots[i].startAt = now + delay
        let fields: KeyValuePairs<String, Any> = ["worker_pid": Int(pid), "status": how,
                                                  "uptime_seconds": (uptime * 1000).rounded() / 1000, "restart_in_seconds": delay]
        if cleanExit {
            Log.info("worker exited (recycled)", fields)
        } else {
            Log.warning("worker died", fields)
        }
    }

    private func startDueWorkers(now: Double) {
        for i in slots.indices {
            guard slots[i].pid == nil, let due = slots[i].startAt, due <= now else { continue }
            let metricsSlot = options.metrics?.freeSlot()
            if let metricsSlot { options.metrics?.prepare(slot: metricsSlot, startTime: Self.wallClock()) }
            var extra = ["--slot", String(i)]
            if let metricsSlot { extra += ["--metrics-fd", String(ProcessSpawner.metricsChildFD), "--metrics-slot", String(metricsSlot)] }
            switch spawner.spawn(listeningFD: listeningFD, environment: environment, extraArguments: extra) {
            case .success(let pid):
                if let metricsSlot {
                    options.metrics?.started(slot: metricsSlot, pid: pid)
                    metricsSlots[pid] = metricsSlot
                }
                slots[i].pid = pid
                slots[i].started = now
                slots[i].startAt = nil
                Log.info("worker started", ["worker_pid": Int(pid), "slot": i])
            case .failure(let error):
                if let metricsSlot { options.metrics?.exited(slot: metricsSlot, cpuSeconds: 0) }
                let delay = options.restartPolicy.delay(crashed: true, uptime: 0, recentFailures: &slots[i].failures)
                slots[i].startAt = now + max(delay, options.restartPolicy.firstBackoff)
                Log.error("cannot start a worker", ["error": error.description, "retry_in_seconds": delay])
            }
        }
    }

    // MARK: helpers

    private func runningPids() -> [pid_t] { slots.compactMap(\.pid) + retiring.keys }

    private func timeoutMilliseconds(now: Double) -> Int32 {
        var next = stopping ? stopDeadline : Double.infinity
        if !stopping {
            for slot in slots where slot.pid == nil { if let due = slot.startAt { next = min(next, due) } }
            for deadline in retiring.values { next = min(next, deadline) }
        }
        // A periodic wake-up as well, in case a SIGCHLD was coalesced away.
        let wait = min(max(0, next - now), 1.0)
        return Int32((wait * 1000).rounded(.up))
    }

    private static func readSignals(_ fd: Int32) -> [Int32] {
        var buffer = [UInt8](repeating: 0, count: 64)
        var signals: [Int32] = []
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n <= 0 { return signals }
            signals += buffer[0..<n].map { Int32($0) }
        }
    }

    static func describe(_ status: Int32) -> String {
        let termination = status & 0x7f
        if termination == 0 { return "exit \((status >> 8) & 0xff)" }
        return "signal \(termination)"
    }

    public static func wallClock() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }
}
