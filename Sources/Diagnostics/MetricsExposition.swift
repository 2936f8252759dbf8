#if canImport(Glibc)
import Glibc
#endif
import JSON

/// The host metrics as Prometheus text (exposition format 0.0.4) and as the
/// php-fpm-style status page. Both read the shared region and /proc of the host's
/// processes; neither runs on any path but their own.
public struct MetricsExposition {
    public static let contentType = "text/plain; version=0.0.4; charset=utf-8"

    let host: HostMetrics
    /// The router's templates, in index order (every worker registers the same routes).
    let routes: [String]

    public init(host: HostMetrics, routes: [String]) {
        self.host = host
        self.routes = routes
    }

    /// The supervisor and every live worker: their resource use now.
    func processes() -> (resident: Double, cpu: Double, fds: Int) {
        var pids = host.liveSlots().map(\.pid)
        let supervisor = host.supervisorPid
        if supervisor > 0 { pids.append(supervisor) }
        var resident = 0.0, cpu = host.exitedCPUSeconds, fds = 0
        for pid in pids {
            guard let stats = ProcessStats.of(pid: pid) else { continue }
            resident += stats.residentBytes
            cpu += stats.cpuSeconds
            fds += stats.openFDs
        }
        return (resident, cpu, fds)
    }

    public func prometheusText() -> String {
        let t = host.totals()
        var out = PrometheusWriter()
        typealias C = HostMetrics.Counter
        let methods = MetricCatalog.methods
        let statusLabels = MetricCatalog.statuses.map(String.init) + ["other"]
        func routeLabel(_ r: Int) -> String? {
            r == MetricCatalog.unmatchedRoute ? MetricCatalog.unmatchedRouteLabel : (r < routes.count ? routes[r] : nil)
        }

        out.family("recstore_http_requests_total", "counter", "HTTP requests answered, by route template, method and status.")
        for r in 0..<MetricCatalog.routeCapacity {
            guard let route = routeLabel(r) else { continue }
            for m in methods.indices {
                let series = (r * methods.count + m) * MetricCatalog.statusSlots
                for s in 0..<MetricCatalog.statusSlots where t[C.http + series + s] > 0 {
                    out.sample("recstore_http_requests_total",
                               [("route", route), ("method", methods[m]), ("status", statusLabels[s])], t[C.http + series + s])
                }
            }
        }

        out.family("recstore_http_request_duration_seconds", "histogram",
                   "Time from taking a request to having sent its response, by route template and method.")
        let bounds = MetricCatalog.durationBuckets
        for r in 0..<MetricCatalog.routeCapacity {
            guard let route = routeLabel(r) else { continue }
            for m in methods.indices {
                let h = C.histogram + (r * methods.count + m) * C.histogramStride
                var count: UInt64 = 0
                for b in 0...bounds.count { count &+= t[h + b] }
                guard count > 0 else { continue }
                var cumulative: UInt64 = 0
                let labels = [("route", route), ("method", methods[m])]
                for b in bounds.indices {
                    cumulative &+= t[h + b]
                    out.sample("recstore_http_request_duration_seconds_bucket", labels + [("le", PrometheusWriter.number(bounds[b]))], cumulative)
                }
                out.sample("recstore_http_request_duration_seconds_bucket", labels + [("le", "+Inf")], count)
                out.sample("recstore_http_request_duration_seconds_sum", labels, Double(t[h + bounds.count + 1]) / 1e6)
                out.sample("recstore_http_request_duration_seconds_count", labels, count)
            }
        }

        out.family("recstore_http_requests_in_flight", "gauge", "Requests being served right now on this host.")
        out.sample("recstore_http_requests_in_flight", [], host.busyNow)
        out.family("recstore_upload_bytes_total", "counter", "Request body bytes read (uploads, settings).")
        out.sample("recstore_upload_bytes_total", [], t[C.uploadBytes])

        out.family("recstore_s3_requests_total", "counter", "S3 attempts (each retry is one), by operation and outcome.")
        let outcomes = MetricCatalog.S3Outcome.allCases
        for (o, operation) in MetricCatalog.s3Operations.enumerated() {
            for outcome in outcomes {
                let v = t[C.s3Requests + o * outcomes.count + outcome.rawValue]
                if v > 0 { out.sample("recstore_s3_requests_total", [("operation", operation), ("outcome", outcome.label)], v) }
            }
        }
        out.family("recstore_s3_retries_total", "counter", "S3 attempts that were retries of a failed one, by operation.")
        for (o, operation) in MetricCatalog.s3Operations.enumerated() where t[C.s3Retries + o] > 0 {
            out.sample("recstore_s3_retries_total", [("operation", operation)], t[C.s3Retries + o])
        }
        out.family("recstore_storage_fallbacks_total", "counter", "Saves stored in the local fallback store because S3 was unavailable.")
        out.sample("recstore_storage_fallbacks_total", [], t[C.storageFallbacks])

        out.family("recstore_jwks_fetches_total", "counter", "JWKS loads (URL or file), by outcome.")
        for outcome in MetricCatalog.JWKSOutcome.allCases {
            out.sample("recstore_jwks_fetches_total", [("outcome", outcome.label)], t[C.jwks + outcome.rawValue])
        }
        out.family("recstore_token_cache_hits_total", "counter", "Tokens found already verified in the worker's cache.")
        out.sample("recstore_token_cache_hits_total", [], t[C.tokenCacheHits])
        out.family("recstore_token_cache_misses_total", "counter", "Tokens that had to be verified (signature and claims).")
        out.sample("recstore_token_cache_misses_total", [], t[C.tokenCacheMisses])
        out.family("recstore_slow_requests_total", "counter", "Requests slower than SLOW_REQUEST_SECONDS.")
        out.sample("recstore_slow_requests_total", [], t[C.slowRequests])

        let live = host.liveSlots()
        out.family("recstore_workers", "gauge", "Worker processes running (retiring ones after a reload included).")
        out.sample("recstore_workers", [], UInt64(live.count))
        out.family("recstore_worker_restarts_total", "counter", "Workers replaced after they exited (crash, kill or recycling).")
        out.sample("recstore_worker_restarts_total", [], host.workerRestarts)
        out.family("recstore_threads_busy", "gauge", "Request threads serving a request right now, over the host.")
        out.sample("recstore_threads_busy", [], live.reduce(0) { $0 + $1.busy })
        out.family("recstore_threads_busy_max", "gauge", "The most request threads ever busy at once on this host since it started.")
        out.sample("recstore_threads_busy_max", [], host.busyMax)
        out.family("recstore_threads", "gauge", "Request threads the running workers have.")
        out.sample("recstore_threads", [], UInt64(live.count * host.threadsPerWorker))

        let p = processes()
        out.family("process_resident_memory_bytes", "gauge", "Resident memory of the host's recstore processes, summed.")
        out.sample("process_resident_memory_bytes", [], p.resident)
        out.family("process_cpu_seconds_total", "counter", "User and system CPU time of the host's recstore processes, exited ones included.")
        out.sample("process_cpu_seconds_total", [], p.cpu)
        out.family("process_open_fds", "gauge", "Open file descriptors of the host's recstore processes, summed.")
        out.sample("process_open_fds", [], UInt64(p.fds))
        out.family("process_start_time_seconds", "gauge", "When the host's supervisor started, in seconds since the Unix epoch.")
        out.sample("process_start_time_seconds", [], host.hostStartTime)
        return out.text
    }

    /// GET /status: the pool in the spirit of php-fpm's status page.
    public func status(full: Bool) -> JSON {
        let t = host.totals()
        let live = host.liveSlots()
        let threads = host.threadsPerWorker
        let busy = live.reduce(0) { $0 + Int($1.busy) }
        let start = host.hostStartTime
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        var object = JSONObject([
            ("pool", .string("recstore")),
            ("supervisor_pid", .int(Int(host.supervisorPid))),
            ("start_time", .int(Int(start))),
            ("start_since", .int(max(0, now.tv_sec - Int(start)))),
            ("workers", .int(live.count)),
            ("workers_configured", .int(host.workersConfigured)),
            ("threads_per_worker", .int(threads)),
            ("total_threads", .int(live.count * threads)),
            ("busy_threads", .int(busy)),
            ("idle_threads", .int(max(0, live.count * threads - busy))),
            ("accepted_requests", .int(Int(t[HostMetrics.Counter.accepted]))),
            ("max_busy_threads", .int(Int(host.busyMax))),
            ("slow_requests", .int(Int(t[HostMetrics.Counter.slowRequests]))),
            ("worker_restarts", .int(Int(host.workerRestarts))),
        ])
        if full {
            object["processes"] = .array(live.map { slot in
                let stats = ProcessStats.of(pid: slot.pid)
                return .object(JSONObject([
                    ("slot", .int(slot.index)),
                    ("pid", .int(Int(slot.pid))),
                    ("state", .string(slot.busy > 0 ? "busy" : (slot.state == .retiring ? "retiring" : "idle"))),
                    ("requests", .int(Int(slot.requests))),
                    ("busy_threads", .int(Int(slot.busy))),
                    ("rss_bytes", .int(Int(stats?.residentBytes ?? 0))),
                    ("start_time", .int(Int(slot.startTime))),
                ]))
            })
        }
        return .object(object)
    }
}

/// Builds the exposition text: a family's HELP and TYPE, then its samples.
struct PrometheusWriter {
    var text = ""

    init() { text.reserveCapacity(16 * 1024) }

    mutating func family(_ name: String, _ type: String, _ help: String) {
        text += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
    }

    mutating func sample(_ name: String, _ labels: [(String, String)], _ value: UInt64) {
        line(name, labels, String(value))
    }

    mutating func sample(_ name: String, _ labels: [(String, String)], _ value: Double) {
        line(name, labels, Self.number(value))
    }

    private mutating func line(_ name: String, _ labels: [(String, String)], _ value: String) {
        text += name
        if !labels.isEmpty {
            text += "{" + labels.map { "\($0.0)=\"\(Self.escape($0.1))\"" }.joined(separator: ",") + "}"
        }
        text += " " + value + "\n"
    }

    static func number(_ v: Double) -> String {
        if v == v.rounded() && abs(v) < 1e15 { return String(Int64(v)) }
        return String(v)
    }

    static func escape(_ s: String) -> String {
        var out = ""
        for c in s {
            switch c {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            case "\n": out += "\\n"
            default: out.append(c)
            }
        }
        return out
    }
}
