import Configuration
import Diagnostics
import FastCGI
import Foundation
import Supervisor

/// `recstore serve`: checks the configuration, opens the listening socket and
/// runs the supervisor, which spawns the worker processes (`recstore worker`).
enum ServeCommand {
    static let usage = """
        usage: recstore serve [--socket PATH | --listen HOST:PORT] [--workers N] [--threads M]
                              [--max-requests K] [--grace-seconds S] [--pid-file PATH]
                              [--backlog N] [--env-file PATH]

          --socket PATH        listen on a unix socket (a stale socket file is replaced)
          --listen HOST:PORT   listen on TCP, for nginx on other hosts (":PORT": all interfaces)
                               without either: the socket inherited on fd 0 (spawn-fcgi,
                               systemd StandardInput=socket) or systemd's LISTEN_FDS
          --workers N          worker processes (default 2)
          --threads M          request threads per worker (default 4)
          --max-requests K     replace a worker after K requests (default 0: never)
          --grace-seconds S    time in-flight requests get on stop or reload (default 30)
          --pid-file PATH      write the supervisor's pid here once listening
          --backlog N          the listen queue of --socket/--listen (default workers × threads × 2):
                               short, so a saturated host refuses and nginx fails over fast
          --env-file PATH      an environment file (KEY=VALUE lines) read at start and on every
                               SIGHUP; its values win over the process environment and .env

        Signals: SIGTERM/SIGINT stop gracefully; SIGHUP re-reads --env-file and .env (the
        process environment itself cannot change) and replaces the workers gracefully.
        Configuration: see README.md.
        """

    static func run(_ argv: [String]) -> Int32 {
        let arguments: Arguments
        let workers: Int, threads: Int, maxRequests: Int, grace: Double, backlog: Int
        do {
            arguments = try Arguments(argv, options: ["socket", "listen", "workers", "threads", "max-requests",
                                                      "grace-seconds", "pid-file", "backlog", "env-file"], flags: ["help"])
            workers = try arguments.integer("workers", in: 1...256, default: 2)
            threads = try arguments.integer("threads", in: 1...256, default: 4)
            backlog = try arguments.integer("backlog", in: 1...65535, default: max(16, workers * threads * 2))
            maxRequests = try arguments.integer("max-requests", in: 0...Int(Int32.max), default: 0)
            grace = try arguments.seconds("grace-seconds", in: 0...3600, default: 30)
            if arguments.string("socket") != nil && arguments.string("listen") != nil {
                throw UsageError("--socket and --listen exclude each other")
            }
        } catch {
            printError("recstore serve: \(error)\n\n\(usage)")
            return 2
        }
        if arguments.has("help") {
            print(usage)
            return 0
        }

        // Check everything before listening: a bad value stops start-up, naming the variable.
        let envFile = arguments.string("env-file")
        let environment: [String: String]
        do {
            environment = try workerEnvironment(envFile: envFile)
            try LogLevel.apply(from: environment)
            // Credentials that cannot be resolved are a configuration error too.
            _ = try Stores.bucket(Configuration.load(environment))
        } catch {
            printError("recstore: configuration error: \(error)")
            return 2
        }

        let address: ListenAddress
        if let path = arguments.string("socket") {
            address = .unix(path: path)
        } else if let text = arguments.string("listen") {
            guard let parsed = ListenAddress.tcp(parsing: text) else {
                printError("recstore serve: --listen needs HOST:PORT, [IPV6]:PORT or :PORT, got \"\(text)\"")
                return 2
            }
            address = parsed
        } else if let fd = systemdSocket() {
            address = .inherited(fd: fd)
        } else if Listener.isListeningSocket(0) {
            address = .inherited(fd: 0)
        } else {
            printError("recstore serve: no --socket or --listen given, and no listening socket was inherited\n\n\(usage)")
            return 2
        }

        let listener: Listener
        do {
            listener = try Listener.open(address, backlog: Int32(backlog))
        } catch {
            printError("recstore serve: \(error)")
            return 1
        }
        let pidFile = arguments.string("pid-file")
        if let pidFile {
            do {
                try "\(getpid())\n".write(toFile: pidFile, atomically: true, encoding: .utf8)
            } catch {
                printError("recstore serve: cannot write the pid file \(pidFile): \(error)")
                listener.close()
                return 1
            }
        }
        Log.info("listening", ["address": address.description, "workers": workers, "threads": threads,
                               "max_requests": maxRequests, "backlog": backlog])

        // argv[0] names the process in `ps`, `pidof` and process dashboards.
        var options = Supervisor.Options(
            workers: workers,
            workerArguments: ["recstore-worker", "worker", "--threads", String(threads), "--max-requests", String(maxRequests),
                              "--supervisor-pid", String(getpid())])
        options.gracePeriod = grace
        // The host's metrics live in memory every worker shares: made before any worker starts.
        // Room for a full set of workers, a set retiring after a reload, and one more.
        do {
            let metrics = try HostMetrics.create(slots: workers * 3 + 1)
            metrics.setHost(startTime: Supervisor.wallClock(), supervisorPid: getpid(), workers: workers, threadsPerWorker: threads)
            options.metrics = metrics
        } catch {
            Log.warning("host metrics unavailable: /metrics and /status will answer 503", ["error": error.description])
        }
        let supervisor = Supervisor(
            listeningFD: listener.fd, options: options, environment: environment,
            reloadEnvironment: {
                do {
                    let environment = try workerEnvironment(envFile: envFile)
                    try LogLevel.apply(from: environment)
                    _ = try Stores.bucket(Configuration.load(environment))
                    return .success(environment)
                } catch {
                    return .failure(Supervisor.ReloadRefused(String(describing: error)))
                }
            },
            stopListening: { listener.close() })
        let status = supervisor.run()
        listener.close()
        if let pidFile { unlink(pidFile) }
        return status
    }

    /// `.env`, then the process environment, then `--env-file` (read afresh each
    /// time: that is what makes SIGHUP pick up an edited file), without systemd's
    /// socket-passing variables (they describe this process, not the workers).
    static func workerEnvironment(envFile: String?) throws -> [String: String] {
        var environment = DotEnv.environment()
        if let envFile {
            environment.merge(try DotEnv.file(envFile)) { _, fromFile in fromFile }
        }
        for name in ["LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"] { environment[name] = nil }
        return environment
    }

    /// systemd socket activation without `StandardInput=socket`: one socket on fd 3.
    static func systemdSocket() -> Int32? {
        let env = ProcessInfo.processInfo.environment
        guard let pid = env["LISTEN_PID"].flatMap(Int32.init), pid == getpid(), env["LISTEN_FDS"] == "1" else { return nil }
        return 3
    }
}
