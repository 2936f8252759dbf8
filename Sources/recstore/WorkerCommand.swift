import Configuration
import Diagnostics
import FastCGI
import Foundation
import Supervisor

/// `recstore worker` (internal): one worker process, started by `recstore serve`
/// with the listening socket on fd 0 and the checked environment.
enum WorkerCommand {
    static func run(_ argv: [String]) -> Int32 {
        let threads: Int, maxRequests: Int, supervisor: pid_t, metricsFD: Int?, metricsSlot: Int
        do {
            let arguments = try Arguments(argv, options: ["threads", "max-requests", "supervisor-pid", "slot",
                                                          "metrics-fd", "metrics-slot"])
            // --slot (the pool slot) is there for `ps`; the metrics slot is what counts.
            _ = try arguments.integer("slot", in: 0...4096, default: 0)
            metricsFD = arguments.string("metrics-fd") == nil ? nil : try arguments.integer("metrics-fd", in: 3...1024, default: 3)
            metricsSlot = try arguments.integer("metrics-slot", in: 0...1_000_000, default: 0)
            threads = try arguments.integer("threads", in: 1...256, default: 4)
            maxRequests = try arguments.integer("max-requests", in: 0...Int(Int32.max), default: 0)
            supervisor = pid_t(try arguments.integer("supervisor-pid", in: 0...Int(Int32.max), default: Int(getppid())))
        } catch {
            printError("recstore worker: \(error)")
            return 2
        }
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
            RequestContext.slowRequestSeconds = configuration.slowRequestSeconds
            let responder = try App.makeResponder(configuration)
            let bodyDeadline = BodyDeadline(graceSeconds: Double(configuration.requestBodyGraceSeconds),
                                            minimumBytesPerSecond: configuration.requestBodyMinBytesPerSecond,
                                            maxSeconds: Double(configuration.requestBodyMaxSeconds))
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
