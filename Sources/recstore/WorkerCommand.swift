import ArgumentParser
import CProcess
import RecstoreConfiguration
import Diagnostics
import FastCGI
import Foundation
import Supervisor

/// `recstore worker`: the command line the supervisor gives its workers.
struct Worker: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "One worker process (internal: `recstore serve` starts it with the listening socket on fd 0).",
        shouldDisplay: false)

    @Option(help: ArgumentHelp("Request threads (1...256).", valueName: "m"))
    var threads = 4

    @Option(help: ArgumentHelp("Stop after K requests (0: never).", valueName: "k"))
    var maxRequests = 0

    @Option(help: ArgumentHelp("The supervisor's pid; the worker stops when it is gone (default: the parent).",
                               valueName: "pid"))
    var supervisorPid: Int?

    @Option(help: ArgumentHelp("The pool slot this worker fills (shown in `ps`).", valueName: "n"))
    var slot = 0

    @Option(help: ArgumentHelp("The descriptor of the host's shared metrics memory.", valueName: "fd"))
    var metricsFd: Int?

    @Option(help: ArgumentHelp("This worker's slot in the shared metrics memory.", valueName: "n"))
    var metricsSlot = 0

    func validate() throws {
        guard (0...4096).contains(slot) else { throw ValidationError("--slot must be in 0...4096, got \(slot)") }
        if let fd = metricsFd, !(3...1024).contains(fd) { throw ValidationError("--metrics-fd must be in 3...1024, got \(fd)") }
        guard (0...1_000_000).contains(metricsSlot) else {
            throw ValidationError("--metrics-slot must be in 0...1000000, got \(metricsSlot)")
        }
        guard (1...256).contains(threads) else { throw ValidationError("--threads must be in 1...256, got \(threads)") }
        guard maxRequests >= 0 && maxRequests <= Int(Int32.max) else {
            throw ValidationError("--max-requests must be in 0...\(Int32.max), got \(maxRequests)")
        }
        if let pid = supervisorPid, pid < 0 || pid > Int(Int32.max) {
            throw ValidationError("--supervisor-pid must be in 0...\(Int32.max), got \(pid)")
        }
    }

    func run() throws {
        try exiting(with: WorkerCommand.run(threads: threads, maxRequests: maxRequests,
                                            supervisor: supervisorPid.map { pid_t($0) } ?? getppid(),
                                            metricsFD: metricsFd, metricsSlot: metricsSlot))
    }
}

/// `recstore worker` (internal): one worker process, started by `recstore serve`
/// with the listening socket on fd 0 and the checked environment.
enum WorkerCommand {
    static func run(threads: Int, maxRequests: Int, supervisor: pid_t, metricsFD: Int?, metricsSlot: Int) -> Int32 {
        // `ps -o comm`, `top` and `pidof` show this name (spawned through
        // /proc/self/exe, a worker would otherwise be "exe").
        _ = rs_set_process_name("recstore-worker")
        guard Listener.isListeningSocket(0) else {
            printError("recstore worker is internal: `recstore serve` starts it with the listening socket on fd 0")
            return 2
        }
        let environment = ProcessInfo.processInfo.environment
        let worker: FastCGIWorker
        do {
            try LogLevel.apply(from: environment)
            let configuration = try Configuration.load(environment)
            if let metricsFD { Metrics.attach(try HostMetrics.attach(fd: Int32(metricsFD)), slot: metricsSlot) }
            RequestContext.slowRequestSeconds = configuration.server.slowRequestSeconds
            let responder = try App.makeResponder(configuration)
            let bodyDeadline = BodyDeadline(graceSeconds: Double(configuration.uploads.bodyGraceSeconds),
                                            minimumBytesPerSecond: configuration.uploads.bodyMinBytesPerSecond,
                                            maxSeconds: Double(configuration.uploads.bodyMaxSeconds))
            worker = try FastCGIWorker(listeningFD: 0, threads: threads, maxRequests: maxRequests, responder: responder,
                                       bodyDeadline: bodyDeadline)
        } catch {
            Log.error("worker cannot start", ["error": String(describing: error)])
            return 2
        }
        // After FCGX_Init (in the worker's init), which installs handlers of its own.
        SignalRouting.route([SIGTERM], to: worker.stopDescriptor)
        // The supervisor decides: Ctrl-C reaches the whole process group, and SIGHUP
        // means "reload" to the supervisor, not "die" to its workers.
        SignalRouting.ignore([SIGINT, SIGHUP, SIGPIPE])
        watchParent(worker, supervisor: supervisor)

        Log.debug("worker ready", ["threads": threads])
        let listenerHealthy = worker.run()
        Log.debug("worker stopped", ["requests": worker.requestsServed])
        return listenerHealthy ? 0 : 1
    }

    /// A worker whose supervisor is gone (even killed with SIGKILL) stops gracefully
    /// instead of lingering as an orphan. The supervisor names itself: one killed
    /// while this worker was still starting has already handed it to another parent,
    /// so the parent seen now may not be the supervisor.
    static func watchParent(_ worker: FastCGIWorker, supervisor: pid_t) {
        Thread.detachNewThread {
            while getppid() == supervisor { usleep(200_000) }
            Log.warning("supervisor gone: stopping")
            worker.stop()
        }
    }
}
