import ArgumentParser
import CProcess
import RecstoreConfiguration
import Diagnostics
import FastCGI
import Foundation
import Operations
import Supervisor

/// `recstore serve`: the command line.
struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the FastCGI responder: a supervisor and its worker processes.",
        discussion: """
            Without --socket or --listen, the listening socket is the one inherited on fd 0 \
            (spawn-fcgi, systemd StandardInput=socket) or passed by systemd socket activation (LISTEN_FDS).

            Signals: SIGTERM/SIGINT stop gracefully; SIGHUP re-reads --env-file and .env (the \
            process environment itself cannot change) and replaces the workers gracefully. \
            Configuration: see README.md.
            """)

    @Option(help: ArgumentHelp("Listen on a unix socket (a stale socket file is replaced).", valueName: "path"))
    var socket: String?

    @Option(help: ArgumentHelp("Listen on TCP, for nginx on other hosts (\":PORT\": all interfaces).",
                               valueName: "host:port"))
    var listen: String?

    @Option(help: ArgumentHelp("Worker processes (1...256).", valueName: "n"))
    var workers = 2

    @Option(help: ArgumentHelp("Request threads per worker (1...256).", valueName: "m"))
    var threads = 4

    @Option(help: ArgumentHelp("Replace a worker after K requests (0: never).", valueName: "k"))
    var maxRequests = 0

    @Option(help: ArgumentHelp("Seconds in-flight requests get on stop or reload (0...3600).", valueName: "s"))
    var graceSeconds = 30.0

    @Option(help: ArgumentHelp("Write the supervisor's pid here once listening.", valueName: "path"))
    var pidFile: String?

    @Option(help: ArgumentHelp("""
        The listen queue of --socket/--listen (1...65535; default workers × threads × 2, at least 16): \
        short, so a saturated host refuses and nginx fails over fast.
        """, valueName: "n"))
    var backlog: Int?

    @Option(help: ArgumentHelp("""
        An environment file (KEY=VALUE lines) read at start and on every SIGHUP; its values win over \
        the process environment and .env.
        """, valueName: "path"))
    var envFile: String?

    func validate() throws {
        guard (1...256).contains(workers) else { throw ValidationError("--workers must be in 1...256, got \(workers)") }
        guard (1...256).contains(threads) else { throw ValidationError("--threads must be in 1...256, got \(threads)") }
        guard maxRequests >= 0 && maxRequests <= Int(Int32.max) else {
            throw ValidationError("--max-requests must be in 0...\(Int32.max), got \(maxRequests)")
        }
        guard (0...3600).contains(graceSeconds) else {
            throw ValidationError("--grace-seconds must be a number of seconds in 0...3600, got \(graceSeconds)")
        }
        if let backlog, !(1...65535).contains(backlog) {
            throw ValidationError("--backlog must be in 1...65535, got \(backlog)")
        }
        if socket != nil && listen != nil { throw ValidationError("--socket and --listen exclude each other") }
    }

    func run() throws {
        // `ps -o comm`, `top` and `pidof` show the supervisor as recstore.
        _ = rs_set_process_name("recstore")
        try exiting(with: ServeCommand.run(socket: socket, listen: listen, workers: workers, threads: threads,
                                           maxRequests: maxRequests, grace: graceSeconds, pidFile: pidFile,
                                           backlog: backlog, envFile: envFile))
    }
}

/// `recstore serve`: checks the configuration, opens the listening socket and
/// runs the supervisor, which spawns the worker processes (`recstore worker`).
enum ServeCommand {
    static func run(socket: String?, listen: String?, workers: Int, threads: Int, maxRequests: Int, grace: Double,
                    pidFile: String?, backlog: Int?, envFile: String?) -> Int32 {
        let backlog = backlog ?? max(16, workers * threads * 2)
        // Check everything before listening: a bad value stops start-up, naming the variable.
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
        if let path = socket {
            address = .unix(path: path)
        } else if let text = listen {
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
            printError("recstore serve: no --socket or --listen given, and no listening socket was inherited (see recstore serve --help)")
            return 2
        }

        let listener: Listener
        do {
            listener = try Listener.open(address, backlog: Int32(backlog))
        } catch {
            printError("recstore serve: \(error)")
            return 1
        }
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
